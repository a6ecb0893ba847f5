"""Managing users, service accounts, groups and access tokens (tidegate.services.identity).

Every change must take effect at once (the identity snapshot of this and of every other process
on the host), be audited in its transaction, and leave nothing behind when it is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tidegate.auth import access_tokens
from tidegate.auth.credentials import CredentialChecker
from tidegate.auth.identity import IdentityState
from tidegate.auth.principals import ANONYMOUS, Principal
from tidegate.db import Database
from tidegate.db import access as access_q
from tidegate.db import users as user_q
from tidegate.db.records import AuditRecord
from tidegate.errors import Conflict, Denied, InvalidRequest, NotFound, Unauthorized
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.identity import IdentityService
from tidegate.services.permissions import TargetView, write_target

# Hashes of users the tests insert directly (the service itself hashes as production does).
_quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


@dataclass
class Env:
    db: Database
    state: IdentityState
    audit: AuditLog
    svc: IdentityService
    admin: Actor
    alice: Actor  # a user who is not an admin

    def generation(self) -> int:
        with self.db.read() as conn:
            return access_q.auth_generation(conn)

    def events(self, action: str | None = None) -> list[AuditRecord]:
        return self.audit.query(action=action)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    db = Database(f"sqlite:///{tmp_path / 't.db'}")
    db.migrate()
    with db.transaction() as conn:
        admin_id = user_q.create(conn, "admin", _quick.hash("admin password"), is_admin=True)
        alice_id = user_q.create(conn, "alice", _quick.hash("alice password"), is_admin=False)
        for group in ("developers", "testers"):
            user_q.create_group(conn, group, None)
    state = IdentityState(db)
    audit = AuditLog(db)
    yield Env(
        db,
        state,
        audit,
        IdentityService(db, state, audit),
        Actor(Principal("user", "admin", True, admin_id), "192.0.2.1"),
        Actor(Principal("user", "alice", False, alice_id), "192.0.2.2"),
    )
    audit.flush(timeout=60)
    db.dispose()


def live(env: Env, name: str, token_id: str | None = None) -> bool:
    """Would a principal named ``name`` (as it is now) still be let in?"""
    entry = env.state.current().entry(name)
    return entry is not None and env.state.current().current(entry.principal(token_id)) is not None


# --- users -----------------------------------------------------------------------------------


def test_create_user(env: Env) -> None:
    before = env.state.current()

    view = env.svc.create_user(env.admin, "bob", PASSWORD, groups=["testers", "developers"])

    assert (view.name, view.kind, view.is_admin, view.disabled) == ("bob", "user", False, False)
    assert view.groups == ["developers", "testers"]
    assert view.created_at is not None and view.created_at.tzinfo is not None
    assert env.svc.get_user("bob") == view
    assert [u.name for u in env.svc.list_users()] == ["admin", "alice", "bob"]
    # this process sees it at once (tests below check the others)
    assert before.entry("bob") is None
    entry = env.state.current().entry("bob")
    assert entry is not None and entry.group_ids and entry.password_hash
    assert "correct horse" not in entry.password_hash  # stored hashed
    [event] = env.events("user.created")
    assert (event.actor, event.address, event.target, event.outcome) == (
        "admin",
        "192.0.2.1",
        "bob",
        "ok",
    )
    assert event.detail == {"groups": ["developers", "testers"], "is_admin": False}


def test_a_created_user_signs_in_with_the_password(env: Env) -> None:
    env.svc.create_user(env.admin, "bob", PASSWORD, is_admin=True)
    checker = CredentialChecker(env.state)

    principal = checker.authenticate("bob", PASSWORD)

    assert (principal.kind, principal.name, principal.is_admin) == ("user", "bob", True)
    with pytest.raises(Unauthorized):
        checker.authenticate("bob", PASSWORD + "!")


@pytest.mark.parametrize(
    "name",
    ["a", "0", "ci-bot", "a.b_c-d", "team.x-1", "x" * 64],
)
def test_valid_names(env: Env, name: str) -> None:
    assert env.svc.create_service_account(env.admin, name).name == name
    assert env.svc.create_group(env.admin, name).name == name


INVALID_NAMES = ["", "Alice", "ALICE", "-x", ".x", "_x", "x" * 65, "a b", "a/b", "a:b", "ä", "a\n"]


@pytest.mark.parametrize("name", [*INVALID_NAMES, "anonymous"])  # "anonymous" is reserved
def test_invalid_names_are_refused_for_every_kind(env: Env, name: str) -> None:
    generation = env.generation()

    with pytest.raises(InvalidRequest):
        env.svc.create_user(env.admin, name, PASSWORD)
    with pytest.raises(InvalidRequest):
        env.svc.create_service_account(env.admin, name)
    with pytest.raises(InvalidRequest):
        env.svc.create_group(env.admin, name)

    assert env.generation() == generation
    assert env.events() == []


@pytest.mark.parametrize(
    "password",
    ["", "short", "7 chars", "x" * 1025, "tdg_abc123def456_" + "a" * 43, "tdg_anything"],
)
def test_weak_or_token_like_passwords_are_refused(env: Env, password: str) -> None:
    with pytest.raises(InvalidRequest):
        env.svc.create_user(env.admin, "bob", password)
    with pytest.raises(InvalidRequest):
        env.svc.update_user(env.admin, "alice", password=password)

    with pytest.raises(NotFound):
        env.svc.get_user("bob")


def test_a_password_of_eight_characters_is_enough(env: Env) -> None:
    assert env.svc.create_user(env.admin, "bob", "8 chars!").name == "bob"


def test_names_are_unique_across_users_and_service_accounts(env: Env) -> None:
    env.svc.create_service_account(env.admin, "ci-bot")

    with pytest.raises(Conflict):
        env.svc.create_user(env.admin, "ci-bot", PASSWORD)
    with pytest.raises(Conflict):
        env.svc.create_service_account(env.admin, "alice")
    with pytest.raises(Conflict):
        env.svc.create_user(env.admin, "alice", PASSWORD)

    assert len(env.events("user.created")) == 0


def test_unknown_groups_refuse_the_whole_change(env: Env) -> None:
    generation = env.generation()

    with pytest.raises(InvalidRequest, match="nope"):
        env.svc.create_user(env.admin, "bob", PASSWORD, groups=["developers", "nope"])
    with pytest.raises(InvalidRequest, match="nope"):
        env.svc.update_user(env.admin, "alice", groups=["testers", "nope"])

    with pytest.raises(NotFound):
        env.svc.get_user("bob")
    assert env.svc.get_user("alice").groups == []
    assert env.generation() == generation
    assert env.events() == []


def test_update_user_replaces_groups_and_flags(env: Env) -> None:
    env.svc.update_user(env.admin, "alice", groups=["developers"])

    view = env.svc.update_user(env.admin, "alice", groups=["testers"], is_admin=True)

    assert (view.groups, view.is_admin) == (["testers"], True)
    assert env.svc.update_user(env.admin, "alice", groups=[]).groups == []
    entry = env.state.current().entry("alice")
    assert entry is not None and entry.is_admin and entry.group_ids == frozenset()
    assert env.svc.get_user("alice").description is None
    assert env.svc.update_user(env.admin, "alice", description="QA").description == "QA"


def test_a_changed_password_is_audited_without_the_hash(env: Env) -> None:
    env.svc.update_user(env.admin, "alice", password="a new password")

    [event] = env.events("user.updated")
    assert event.target == "alice"
    assert event.detail == {"changed": ["password"]}
    checker = CredentialChecker(env.state)
    assert checker.authenticate("alice", "a new password").name == "alice"
    with pytest.raises(Unauthorized):
        checker.authenticate("alice", "alice password")


def test_a_disabled_user_is_out_at_once_and_back_when_enabled(env: Env) -> None:
    token = env.svc.create_token(env.alice, "laptop")
    assert live(env, "alice") and live(env, "alice", token.view.id)

    view = env.svc.update_user(env.admin, "alice", disabled=True)

    assert view.disabled is True
    assert not live(env, "alice")
    assert not live(env, "alice", token.view.id)
    with pytest.raises(Unauthorized):
        CredentialChecker(env.state).authenticate("alice", token.token)
    with pytest.raises(Conflict):
        env.svc.create_token(env.admin, "another", principal="alice")

    env.svc.update_user(env.admin, "alice", disabled=False)
    assert live(env, "alice", token.view.id)


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(env: Env) -> None:
    with pytest.raises(Conflict):
        env.svc.update_user(env.admin, "admin", is_admin=False)
    with pytest.raises(Conflict):
        env.svc.update_user(env.admin, "admin", disabled=True)
    with pytest.raises(Conflict):
        env.svc.delete_user(env.admin, "admin")
    assert env.svc.get_user("admin").is_admin

    env.svc.update_user(env.admin, "alice", is_admin=True)  # now there are two
    env.svc.update_user(env.admin, "admin", disabled=True)
    with pytest.raises(Conflict):  # alice is the only enabled admin left
        env.svc.update_user(env.admin, "alice", is_admin=False)
    with pytest.raises(Conflict):
        env.svc.delete_user(env.admin, "alice")


def test_a_disabled_admin_can_be_demoted_and_deleted(env: Env) -> None:
    """A disabled admin is not one of the admins that keep the registry manageable."""
    env.svc.create_user(env.admin, "old", PASSWORD, is_admin=True)
    env.svc.update_user(env.admin, "old", disabled=True)

    assert env.svc.update_user(env.admin, "old", is_admin=False).is_admin is False
    env.svc.update_user(env.admin, "old", is_admin=True)
    env.svc.delete_user(env.admin, "old")
    with pytest.raises(NotFound):
        env.svc.get_user("old")


def test_deleting_a_user_takes_its_tokens_memberships_and_grants(env: Env) -> None:
    env.svc.update_user(env.admin, "alice", groups=["developers"])
    token = env.svc.create_token(env.alice, "laptop")
    with env.db.transaction() as conn:
        write_target(conn, TargetView("dev", ["dev"], users={"alice": ["read"]}))
    old_alice = env.state.current().entry("alice")
    assert old_alice is not None

    env.svc.delete_user(env.admin, "alice")

    with env.db.read() as conn:
        assert access_q.get_token(conn, token.view.id) is None
        assert user_q.memberships(conn) == []
        assert access_q.list_grants(conn) == []
    assert env.state.current().entry("alice") is None
    assert env.state.current().current(old_alice.principal()) is None
    [event] = env.events("user.deleted")
    assert (event.target, event.detail) == ("alice", {"kind": "user"})


def test_a_user_recreated_under_a_deleted_name_is_not_the_old_one(env: Env) -> None:
    old_alice = env.state.current().entry("alice")
    assert old_alice is not None
    env.svc.delete_user(env.admin, "alice")

    env.svc.create_user(env.admin, "alice", PASSWORD)

    # what was issued to the old alice (a JWT names sub + uid) stays dead
    assert env.state.current().current(old_alice.principal()) is None


def test_unknown_users_are_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        env.svc.get_user("nobody")
    with pytest.raises(NotFound):
        env.svc.update_user(env.admin, "nobody", disabled=True)
    with pytest.raises(NotFound):
        env.svc.delete_user(env.admin, "nobody")


# --- service accounts ------------------------------------------------------------------------


def test_service_accounts(env: Env) -> None:
    view = env.svc.create_service_account(
        env.admin, "ci-bot", groups=["developers"], description="builds"
    )

    assert (view.name, view.kind, view.is_admin, view.disabled) == (
        "ci-bot",
        "service",
        False,
        False,
    )
    assert (view.groups, view.description) == (["developers"], "builds")
    assert [u.name for u in env.svc.list_users("service")] == ["ci-bot"]
    assert "ci-bot" not in [u.name for u in env.svc.list_users("user")]
    assert env.svc.get_user("ci-bot", "service") == view
    entry = env.state.current().entry("ci-bot")
    assert entry is not None and entry.kind == "service" and entry.password_hash is None
    [event] = env.events("service_account.created")
    assert (event.actor, event.target) == ("admin", "ci-bot")


def test_a_service_account_has_no_password_and_is_never_admin(env: Env) -> None:
    env.svc.create_service_account(env.admin, "ci-bot")

    with pytest.raises(InvalidRequest):
        env.svc.update_user(env.admin, "ci-bot", "service", password=PASSWORD)
    with pytest.raises(InvalidRequest):
        env.svc.update_user(env.admin, "ci-bot", "service", is_admin=True)

    assert env.svc.get_user("ci-bot", "service").is_admin is False


def test_user_and_service_account_calls_do_not_cross(env: Env) -> None:
    env.svc.create_service_account(env.admin, "ci-bot")

    with pytest.raises(NotFound):
        env.svc.get_user("ci-bot")  # kind "user"
    with pytest.raises(NotFound):
        env.svc.delete_user(env.admin, "ci-bot")
    with pytest.raises(NotFound):
        env.svc.get_user("alice", "service")

    env.svc.update_user(env.admin, "ci-bot", "service", disabled=True, description="off")
    env.svc.delete_user(env.admin, "ci-bot", "service")
    with pytest.raises(NotFound):
        env.svc.get_user("ci-bot", "service")


# --- groups ----------------------------------------------------------------------------------


def test_create_group_with_members(env: Env) -> None:
    env.svc.create_service_account(env.admin, "ci-bot")

    view = env.svc.create_group(env.admin, "ops", "operations team", ["ci-bot", "alice", "alice"])

    assert (view.name, view.description, view.members) == (
        "ops",
        "operations team",
        ["alice", "ci-bot"],
    )
    assert env.svc.get_group("ops") == view
    assert [g.name for g in env.svc.list_groups()] == ["developers", "ops", "testers"]
    assert env.svc.get_user("alice").groups == ["ops"]
    [event] = env.events("group.created")
    assert event.target == "ops"
    assert set(event.detail["members"]) == {"alice", "ci-bot"}
    with pytest.raises(Conflict):
        env.svc.create_group(env.admin, "ops")


def test_a_group_with_an_unknown_member_is_not_created(env: Env) -> None:
    generation = env.generation()

    with pytest.raises((NotFound, InvalidRequest)):
        env.svc.create_group(env.admin, "ops", members=["alice", "nobody"])

    with pytest.raises(NotFound):
        env.svc.get_group("ops")
    assert env.svc.get_user("alice").groups == []
    assert env.generation() == generation


def test_members_come_and_go(env: Env) -> None:
    env.svc.create_service_account(env.admin, "ci-bot")

    env.svc.add_member(env.admin, "testers", "alice")
    env.svc.add_member(env.admin, "testers", "alice")  # idempotent
    env.svc.add_member(env.admin, "testers", "ci-bot")

    assert env.svc.get_group("testers").members == ["alice", "ci-bot"]
    alice = env.state.current().entry("alice")
    assert alice is not None and len(alice.group_ids) == 1
    assert [e.detail for e in env.events("group.member_added")] == [
        {"member": "ci-bot"},
        {"member": "alice"},
    ]

    env.svc.remove_member(env.admin, "testers", "alice")

    assert env.svc.get_group("testers").members == ["ci-bot"]
    alice = env.state.current().entry("alice")
    assert alice is not None and alice.group_ids == frozenset()
    [removed] = env.events("group.member_removed")
    assert (removed.target, removed.detail) == ("testers", {"member": "alice"})
    with pytest.raises(NotFound):
        env.svc.remove_member(env.admin, "testers", "alice")  # not a member any more


def test_membership_calls_with_unknown_names(env: Env) -> None:
    with pytest.raises(NotFound):
        env.svc.add_member(env.admin, "nope", "alice")
    with pytest.raises(NotFound):
        env.svc.add_member(env.admin, "testers", "nobody")
    with pytest.raises(NotFound):
        env.svc.remove_member(env.admin, "nope", "alice")
    with pytest.raises(NotFound):
        env.svc.remove_member(env.admin, "testers", "nobody")
    with pytest.raises(NotFound):
        env.svc.get_group("nope")
    with pytest.raises(NotFound):
        env.svc.delete_group(env.admin, "nope")


def test_deleting_a_group_ends_its_memberships_and_grants(env: Env) -> None:
    env.svc.add_member(env.admin, "testers", "alice")
    with env.db.transaction() as conn:
        write_target(conn, TargetView("test", ["test"], groups={"testers": ["read"]}))

    env.svc.delete_group(env.admin, "testers")

    assert [g.name for g in env.svc.list_groups()] == ["developers"]
    assert env.svc.get_user("alice").groups == []
    with env.db.read() as conn:
        assert access_q.list_grants(conn) == []
    [event] = env.events("group.deleted")
    assert event.target == "testers"


# --- access tokens ---------------------------------------------------------------------------


def test_create_a_token_for_yourself(env: Env) -> None:
    new = env.svc.create_token(env.alice, "laptop")

    parts = access_tokens.parse(new.token)
    assert parts is not None and parts.id == new.view.id
    assert (new.view.name, new.view.principal, new.view.revoked_at) == ("laptop", "alice", None)
    assert new.view.expires_at - new.view.created_at == timedelta(days=90)
    assert env.svc.list_tokens(env.alice) == [new.view]
    [event] = env.events("token.created")
    assert (event.actor, event.target) == ("alice", "alice")
    assert event.detail["token_id"] == new.view.id
    assert parts.secret not in str(event.detail)
    with env.db.read() as conn:
        stored = access_q.get_token(conn, new.view.id)
    assert stored is not None and parts.secret not in stored.secret_hash


def test_a_token_is_a_password_until_it_is_revoked(env: Env) -> None:
    new = env.svc.create_token(env.alice, "laptop")
    checker = CredentialChecker(env.state)

    principal = checker.authenticate("alice", new.token)

    assert (principal.name, principal.token_id) == ("alice", new.view.id)
    assert checker.principal_for(principal) is not None

    env.svc.revoke_token(env.alice, new.view.id)

    with pytest.raises(Unauthorized):
        checker.authenticate("alice", new.token)
    assert checker.principal_for(principal) is None  # JWTs derived from it die with it
    [view] = env.svc.list_tokens(env.alice)
    assert view.revoked_at is not None
    [event] = env.events("token.revoked")
    assert (event.actor, event.target, event.detail) == (
        "alice",
        "alice",
        {"token_id": new.view.id},
    )


@pytest.mark.parametrize("days", [1, 3650])
def test_token_lifetime_bounds_are_accepted(env: Env, days: int) -> None:
    view = env.svc.create_token(env.alice, "t", expires_in_days=days).view
    assert view.expires_at - view.created_at == timedelta(days=days)


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_token_lifetimes_out_of_bounds_are_refused(env: Env, days: int) -> None:
    with pytest.raises(InvalidRequest):
        env.svc.create_token(env.alice, "t", expires_in_days=days)
    assert env.svc.list_tokens(env.alice) == []


@pytest.mark.parametrize("name", ["", "x" * 129, "two\nlines", "tab\there"])
def test_bad_token_names_are_refused(env: Env, name: str) -> None:
    with pytest.raises(InvalidRequest):
        env.svc.create_token(env.alice, name)


def test_token_names_are_unique_among_active_tokens_of_a_principal(env: Env) -> None:
    first = env.svc.create_token(env.alice, "ci")
    with pytest.raises(Conflict):
        env.svc.create_token(env.alice, "ci")
    env.svc.create_token(env.admin, "ci")  # another principal's token may share the name

    env.svc.revoke_token(env.alice, first.view.id)
    second = env.svc.create_token(env.alice, "ci")

    assert second.view.id != first.view.id
    assert [t.name for t in env.svc.list_tokens(env.alice)] == ["ci", "ci"]


def test_who_may_create_tokens_for_whom(env: Env) -> None:
    env.svc.create_service_account(env.admin, "ci-bot")

    with pytest.raises(Denied):
        env.svc.create_token(env.alice, "x", principal="ci-bot")
    with pytest.raises(Denied):
        env.svc.create_token(env.alice, "x", principal="admin")
    with pytest.raises(Denied):
        env.svc.create_token(Actor(ANONYMOUS), "x")
    with pytest.raises(NotFound):
        env.svc.create_token(env.admin, "x", principal="nobody")

    bot = env.svc.create_token(env.admin, "deploy", principal="ci-bot")
    own = env.svc.create_token(env.alice, "mine", principal="alice")  # naming yourself is fine

    assert bot.view.principal == "ci-bot"
    assert own.view.principal == "alice"
    principal = CredentialChecker(env.state).authenticate("ci-bot", bot.token)
    assert (principal.kind, principal.name) == ("service", "ci-bot")


def test_who_may_list_whose_tokens(env: Env) -> None:
    env.svc.create_service_account(env.admin, "ci-bot")
    bot = env.svc.create_token(env.admin, "deploy", principal="ci-bot").view
    mine = env.svc.create_token(env.alice, "laptop").view

    assert env.svc.list_tokens(env.alice) == [mine]
    assert env.svc.list_tokens(env.admin) == []
    assert env.svc.list_tokens(env.admin, principal="ci-bot") == [bot]
    assert env.svc.list_tokens(env.admin, all_principals=True) == [bot, mine]
    with pytest.raises(Denied):
        env.svc.list_tokens(env.alice, principal="ci-bot")
    with pytest.raises(Denied):
        env.svc.list_tokens(env.alice, all_principals=True)
    with pytest.raises(Denied):
        env.svc.list_tokens(Actor(ANONYMOUS))


def test_who_may_revoke_whose_tokens(env: Env) -> None:
    admins = env.svc.create_token(env.admin, "admin-laptop").view
    alices = env.svc.create_token(env.alice, "laptop").view

    with pytest.raises(NotFound):  # not even told that it exists
        env.svc.revoke_token(env.alice, admins.id)
    with pytest.raises(NotFound):
        env.svc.revoke_token(env.alice, "nosuchtoken0")
    with pytest.raises(NotFound):
        env.svc.revoke_token(env.alice, "x" * 500)

    env.svc.revoke_token(env.admin, alices.id)  # an admin may revoke anyone's

    with pytest.raises(Conflict):
        env.svc.revoke_token(env.alice, alices.id)
    assert live(env, "admin", admins.id)
    assert not live(env, "alice", alices.id)


def test_a_refused_token_call_changes_nothing(env: Env) -> None:
    env.svc.create_token(env.alice, "laptop")
    generation = env.generation()
    events = env.events()

    with pytest.raises(Conflict):
        env.svc.create_token(env.alice, "laptop")
    with pytest.raises(Denied):
        env.svc.create_token(env.alice, "x", principal="admin")

    assert env.generation() == generation
    assert env.events() == events


# --- other processes -------------------------------------------------------------------------


def test_another_process_on_the_host_sees_every_change_at_once(env: Env, tmp_path: Path) -> None:
    """A second Database and IdentityState on the same file stand for another worker."""
    other_db = Database(f"sqlite:///{tmp_path / 't.db'}")
    other = IdentityState(other_db)
    try:
        assert other.current().entry("bob") is None  # a snapshot is held before the changes

        env.svc.create_service_account(env.admin, "bob", groups=["testers"])
        bob = other.current().entry("bob")
        assert bob is not None and len(bob.group_ids) == 1

        token = env.svc.create_token(env.admin, "t", principal="bob")
        assert other.current().current(bob.principal(token.view.id)) is not None

        env.svc.revoke_token(env.admin, token.view.id)
        assert other.current().current(bob.principal(token.view.id)) is None

        env.svc.update_user(env.admin, "bob", "service", disabled=True)
        assert other.current().current(bob.principal()) is None

        env.svc.delete_group(env.admin, "testers")
        bob = other.current().entry("bob")
        assert bob is not None and bob.group_ids == frozenset()
    finally:
        other_db.dispose()


def test_every_change_bumps_the_identity_generation(env: Env) -> None:
    seen = [env.generation()]

    def changed() -> None:
        seen.append(env.generation())
        assert seen[-1] > seen[-2]

    env.svc.create_user(env.admin, "bob", PASSWORD)
    changed()
    env.svc.update_user(env.admin, "bob", disabled=True)
    changed()
    env.svc.create_group(env.admin, "ops")
    changed()
    env.svc.add_member(env.admin, "ops", "alice")
    changed()
    env.svc.remove_member(env.admin, "ops", "alice")
    changed()
    token = env.svc.create_token(env.alice, "t")
    changed()
    env.svc.revoke_token(env.alice, token.view.id)
    changed()
    env.svc.delete_group(env.admin, "ops")
    changed()
    env.svc.delete_user(env.admin, "bob")
    changed()

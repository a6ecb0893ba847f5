"""Permission targets (tidegate.services.permissions) and the decision they feed
(tidegate.auth.permissions): validated, stored, effective at once, audited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tidegate.auth.identity import IdentityState
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import ANONYMOUS, Action, Principal
from tidegate.db import Database
from tidegate.db import access as access_q
from tidegate.db import users as user_q
from tidegate.db.records import GrantRecord
from tidegate.errors import Conflict, InvalidRequest, NotFound
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.identity import IdentityService
from tidegate.services.permissions import (
    PermissionTargetService,
    TargetView,
    anonymous_write_grants,
)

_quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
EVERY_ACTION = ["read", "annotate", "deploy", "overwrite", "delete", "promote", "manage"]


@dataclass
class Env:
    db: Database
    state: IdentityState
    audit: AuditLog
    evaluator: PermissionEvaluator
    svc: PermissionTargetService
    identity: IdentityService
    admin: Actor
    alice: Principal  # a user in no group
    dana: Principal  # a user in "developers"
    bot: Principal  # a service account in "ci"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    db = Database(f"sqlite:///{tmp_path / 't.db'}")
    db.migrate()
    with db.transaction() as conn:
        admin_id = user_q.create(conn, "admin", _quick.hash("admin password"), is_admin=True)
        alice_id = user_q.create(conn, "alice", _quick.hash("alice password"), is_admin=False)
        dana_id = user_q.create(conn, "dana", _quick.hash("dana password"), is_admin=False)
        bot_id = user_q.create(conn, "ci-bot", None, is_admin=False, kind="service")
        developers = user_q.create_group(conn, "developers", None)
        ci = user_q.create_group(conn, "ci", None)
        user_q.add_member(conn, developers, dana_id)
        user_q.add_member(conn, ci, bot_id)
    state = IdentityState(db)
    audit = AuditLog(db)
    evaluator = PermissionEvaluator(state)
    admin = Principal("user", "admin", True, admin_id)
    yield Env(
        db,
        state,
        audit,
        evaluator,
        PermissionTargetService(db, state, evaluator, audit),
        IdentityService(db, state, audit),
        Actor(admin, "192.0.2.1"),
        Principal("user", "alice", False, alice_id),
        Principal("user", "dana", False, dana_id),
        Principal("service", "ci-bot", False, bot_id),
    )
    audit.flush(timeout=60)
    db.dispose()


def generation(env: Env) -> int:
    with env.db.read() as conn:
        return access_q.auth_generation(conn)


# --- create, read, replace, delete -----------------------------------------------------------


def test_create_stores_a_canonical_target_and_audits_it(env: Env) -> None:
    view = TargetView(
        "dev",
        ["dev", "team-*", "dev"],
        include=["shop/**", "tools/*"],
        exclude=["**/debug"],
        users={"alice": ["deploy", "read", "read"], "ci-bot": ["promote"]},
        groups={"developers": ["delete", "read", "overwrite"]},
        anonymous=["read"],
    )

    created = env.svc.create(env.admin, view)

    assert created == TargetView(
        "dev",
        ["dev", "team-*"],
        include=["shop/**", "tools/*"],
        exclude=["**/debug"],
        users={"alice": ["read", "deploy"], "ci-bot": ["promote"]},  # canonical order
        groups={"developers": ["read", "overwrite", "delete"]},
        anonymous=["read"],
    )
    assert env.svc.get("dev") == created
    assert env.svc.list_all() == [created]
    [event] = env.audit.query(action="permission.created")
    assert (event.actor, event.address, event.target) == ("admin", "192.0.2.1", "dev")
    assert event.detail["groups"] == {"developers": ["read", "overwrite", "delete"]}


def test_targets_are_listed_by_name(env: Env) -> None:
    for name in ("prod", "dev", "shared"):
        env.svc.create(env.admin, TargetView(name, [name]))

    assert [t.name for t in env.svc.list_all()] == ["dev", "prod", "shared"]


def test_a_target_name_is_taken_once(env: Env) -> None:
    env.svc.create(env.admin, TargetView("dev", ["dev"], users={"alice": ["read"]}))

    with pytest.raises(Conflict):
        env.svc.create(env.admin, TargetView("dev", ["prod"], users={"alice": ["deploy"]}))

    assert env.svc.get("dev").repositories == ["dev"]
    assert not env.evaluator.allowed(env.alice, "prod", "app", Action.DEPLOY)


def test_replace_swaps_everything_including_the_grants(env: Env) -> None:
    env.svc.create(
        env.admin,
        TargetView("dev", ["dev"], users={"alice": ["read"]}, groups={"developers": ["read"]}),
    )

    replaced = env.svc.replace(
        env.admin, "dev", TargetView("dev", ["test"], include=["shop/**"], users={"dana": ["read"]})
    )

    assert replaced == TargetView("dev", ["test"], include=["shop/**"], users={"dana": ["read"]})
    assert env.svc.get("dev") == replaced
    assert not env.evaluator.allowed(env.alice, "dev", "shop/cart", Action.READ)
    assert env.evaluator.allowed(env.dana, "test", "shop/cart", Action.READ)
    assert not env.evaluator.allowed(env.dana, "test", "tools/x", Action.READ)
    [event] = env.audit.query(action="permission.updated")
    assert (event.target, event.detail["users"]) == ("dev", {"dana": ["read"]})


def test_replace_and_delete_of_an_unknown_target(env: Env) -> None:
    with pytest.raises(NotFound):
        env.svc.replace(env.admin, "nope", TargetView("nope", ["dev"]))
    with pytest.raises(NotFound):
        env.svc.delete(env.admin, "nope")
    with pytest.raises(NotFound):
        env.svc.get("nope")


def test_replace_refuses_a_body_that_names_another_target(env: Env) -> None:
    env.svc.create(env.admin, TargetView("dev", ["dev"]))
    env.svc.create(env.admin, TargetView("prod", ["prod"]))

    with pytest.raises(InvalidRequest):
        env.svc.replace(env.admin, "dev", TargetView("prod", ["test"]))

    assert env.svc.get("dev").repositories == ["dev"]
    assert env.svc.get("prod").repositories == ["prod"]


def test_delete_withdraws_the_grants_at_once(env: Env) -> None:
    env.svc.create(env.admin, TargetView("dev", ["dev"], groups={"developers": ["deploy"]}))
    assert env.evaluator.allowed(env.dana, "dev", "app", Action.DEPLOY)

    env.svc.delete(env.admin, "dev")

    assert not env.evaluator.allowed(env.dana, "dev", "app", Action.DEPLOY)
    assert env.svc.list_all() == []
    with env.db.read() as conn:
        assert access_q.list_grants(conn) == []
    [event] = env.audit.query(action="permission.deleted")
    assert event.target == "dev"


def test_a_deleted_principal_disappears_from_the_targets_that_named_it(env: Env) -> None:
    env.svc.create(
        env.admin,
        TargetView("dev", ["dev"], users={"ci-bot": ["deploy"]}, groups={"developers": ["read"]}),
    )

    env.identity.delete_user(env.admin, "ci-bot", "service")
    env.identity.delete_group(env.admin, "developers")

    assert env.svc.get("dev") == TargetView("dev", ["dev"])


def test_an_empty_grant_is_no_grant(env: Env) -> None:
    view = env.svc.create(env.admin, TargetView("dev", ["dev"], users={"alice": []}))

    assert view.users == {}
    assert env.svc.effective(env.alice, "dev", "app") == []


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        TargetView("Dev", ["dev"]),  # target names follow the principal-name rules
        TargetView("", ["dev"]),
        TargetView("dev", []),  # at least one repository
        TargetView("dev", ["Dev"]),
        TargetView("dev", ["dev/shop"]),  # a repository pattern is one key
        TargetView("dev", ["x" * 65]),
        TargetView("dev", [""]),
        TargetView("dev", ["dev"], include=[]),  # at least one include
        TargetView("dev", ["dev"], include=["Shop/**"]),
        TargetView("dev", ["dev"], include=[""]),
        TargetView("dev", ["dev"], exclude=["shop cart"]),
        TargetView("dev", ["dev"], include=["x" * 256]),
        TargetView("dev", ["dev"], users={"alice": ["fly"]}),
        TargetView("dev", ["dev"], users={"alice": ["READ"]}),
        TargetView("dev", ["dev"], groups={"developers": ["admin"]}),
        TargetView("dev", ["dev"], users={"nobody": ["read"]}),
        TargetView("dev", ["dev"], groups={"nobody": ["read"]}),
        TargetView("dev", ["dev"], users={"developers": ["read"]}),  # a group is not a user
        TargetView("dev", ["dev"], groups={"alice": ["read"]}),
        TargetView("dev", ["dev"], anonymous=["pull"]),
    ],
    ids=lambda v: repr(v)[:90],
)
def test_invalid_targets_are_refused_and_leave_nothing(env: Env, bad: TargetView) -> None:
    before = generation(env)

    with pytest.raises(InvalidRequest):
        env.svc.create(env.admin, bad)

    assert env.svc.list_all() == []
    assert generation(env) == before
    assert env.audit.query() == []


@pytest.mark.parametrize("write", [a for a in EVERY_ACTION if a != "read"])
def test_anonymous_may_be_granted_read_only(env: Env, write: str) -> None:
    env.svc.create(env.admin, TargetView("public", ["hub"], anonymous=["read"]))

    with pytest.raises(InvalidRequest, match="anonymous may only be granted read"):
        env.svc.create(env.admin, TargetView("open", ["dev"], anonymous=["read", write]))
    with pytest.raises(InvalidRequest, match="anonymous may only be granted read"):
        env.svc.replace(env.admin, "public", TargetView("public", ["hub"], anonymous=[write]))

    assert env.svc.get("public").anonymous == ["read"]
    assert [t.name for t in env.svc.list_all()] == ["public"]
    assert env.svc.effective(ANONYMOUS, "dev", "app") == []
    assert env.svc.effective(ANONYMOUS, "hub", "app") == ["read"]


def test_a_stored_anonymous_write_grant_is_found(env: Env) -> None:
    """What ``tidegate serve`` refuses to start on (rows written around the API)."""
    env.svc.create(env.admin, TargetView("public", ["hub"], anonymous=["read"]))
    env.svc.create(env.admin, TargetView("dev", ["dev"]))
    with env.db.read() as conn:
        assert anonymous_write_grants(conn) == []
        dev = access_q.get_target(conn, "dev")
    assert dev is not None

    with env.db.transaction() as conn:
        access_q.replace_grants(conn, dev.id, [GrantRecord(dev.id, None, None, ("read", "deploy"))])

    with env.db.read() as conn:
        assert anonymous_write_grants(conn) == ["dev"]


# --- the decision ----------------------------------------------------------------------------


def test_effective_actions_in_canonical_order(env: Env) -> None:
    env.svc.create(
        env.admin,
        TargetView(
            "dev",
            ["dev"],
            users={"ci-bot": ["manage"]},
            groups={"ci": ["promote", "deploy"], "developers": ["delete"]},
            anonymous=["read"],
        ),
    )

    assert env.svc.effective(env.bot, "dev", "app") == ["read", "deploy", "promote", "manage"]
    assert env.svc.effective(env.dana, "dev", "app") == ["read", "delete"]
    assert env.svc.effective(env.alice, "dev", "app") == ["read"]
    assert env.svc.effective(ANONYMOUS, "dev", "app") == ["read"]
    assert env.svc.effective(env.admin.principal, "anywhere", "x") == EVERY_ACTION
    assert env.svc.effective(env.bot, "prod", "app") == []


def test_allowed_follows_every_change_at_once(env: Env) -> None:
    allowed = env.evaluator.allowed
    assert not allowed(env.dana, "dev", "shop/cart", Action.DEPLOY)

    env.svc.create(env.admin, TargetView("dev", ["dev"], groups={"developers": ["deploy"]}))
    assert allowed(env.dana, "dev", "shop/cart", Action.DEPLOY)
    assert not allowed(env.dana, "dev", "shop/cart", Action.DELETE)
    assert not allowed(env.alice, "dev", "shop/cart", Action.DEPLOY)

    env.identity.add_member(env.admin, "developers", "alice")
    assert allowed(env.alice, "dev", "shop/cart", Action.DEPLOY)

    env.svc.replace(
        env.admin,
        "dev",
        TargetView("dev", ["dev"], exclude=["shop/**"], groups={"developers": ["deploy"]}),
    )
    assert not allowed(env.dana, "dev", "shop/cart", Action.DEPLOY)
    assert allowed(env.dana, "dev", "tools/lint", Action.DEPLOY)

    env.identity.update_user(env.admin, "dana", disabled=True)
    assert not allowed(env.dana, "dev", "tools/lint", Action.DEPLOY)


def test_admins_are_allowed_everything_without_targets(env: Env) -> None:
    for action in Action:
        assert env.evaluator.allowed(env.admin.principal, "prod", "shop/cart", action)


def test_the_catalog_is_open_to_anonymous_only_where_a_target_lets_it_read(env: Env) -> None:
    assert env.evaluator.can_list_catalog(env.alice)
    assert env.evaluator.can_list_catalog(env.bot)
    assert not env.evaluator.can_list_catalog(ANONYMOUS)

    env.svc.create(env.admin, TargetView("public", ["hub"], anonymous=["read"]))
    assert env.evaluator.can_list_catalog(ANONYMOUS)

    env.svc.replace(env.admin, "public", replace(env.svc.get("public"), anonymous=[]))
    assert not env.evaluator.can_list_catalog(ANONYMOUS)


def test_another_process_follows_target_changes_at_once(env: Env, tmp_path: Path) -> None:
    other_db = Database(f"sqlite:///{tmp_path / 't.db'}")
    other = PermissionEvaluator(IdentityState(other_db))
    try:
        assert not other.allowed(env.dana, "dev", "app", Action.DEPLOY)

        env.svc.create(env.admin, TargetView("dev", ["dev"], groups={"developers": ["deploy"]}))
        assert other.allowed(env.dana, "dev", "app", Action.DEPLOY)

        env.svc.delete(env.admin, "dev")
        assert not other.allowed(env.dana, "dev", "app", Action.DEPLOY)
    finally:
        other_db.dispose()

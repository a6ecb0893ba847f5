"""Permission evaluation over the identity snapshot (docs/access.md, "Permission targets").

The snapshot is built from plain records, as ``load_snapshot`` builds it from the database, so
every case here is a small world of users, groups, tokens and targets.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import pytest

from tidegate.auth.principals import ANONYMOUS, Action, Principal
from tidegate.auth.snapshot import IdentitySnapshot
from tidegate.config import DEFAULT_GROUPS
from tidegate.db.records import GrantRecord, GroupRecord, TargetRecord, TokenRecord, UserRecord
from tidegate.services.bootstrap import DEFAULT_TARGETS

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
PAST = datetime(2001, 1, 1, tzinfo=UTC)
ALL = frozenset(Action)


def acts(words: str) -> frozenset[Action]:
    return frozenset(Action(w) for w in words.split())


class World:
    """Rows to build a snapshot from. User ids and group ids both count from 1, as they do in
    the database (two tables): a grant to group 1 must never reach user 1."""

    def __init__(self) -> None:
        self.users: list[UserRecord] = []
        self.groups: list[GroupRecord] = []
        self.memberships: list[tuple[int, int]] = []
        self.tokens: list[TokenRecord] = []
        self.targets: list[TargetRecord] = []
        self.grants: list[GrantRecord] = []
        self._group_ids: dict[str, int] = {}
        self._user_ids: dict[str, int] = {}

    def user(
        self,
        name: str,
        *,
        kind: str = "user",
        admin: bool = False,
        disabled: bool = False,
        groups: Iterable[str] = (),
        user_id: int | None = None,
    ) -> Principal:
        uid = user_id if user_id is not None else len(self.users) + 1
        password = None if kind == "service" else "$argon2id$stored"
        self.users.append(UserRecord(uid, name, password, admin, kind, disabled, None, CREATED))
        self._user_ids[name] = uid
        self.memberships.extend((self._group_ids[g], uid) for g in groups)
        return Principal(kind, name, admin, uid)

    def group(self, name: str) -> int:
        gid = len(self.groups) + 1
        self.groups.append(GroupRecord(gid, name, None, CREATED))
        self._group_ids[name] = gid
        return gid

    def token(self, token_id: str, owner: str, expires_at: datetime = FUTURE) -> None:
        self.tokens.append(
            TokenRecord(token_id, self._user_ids[owner], "t", "$hash", CREATED, expires_at, None)
        )

    def target(
        self,
        name: str,
        repositories: Sequence[str],
        include: Sequence[str] = ("**",),
        exclude: Sequence[str] = (),
        *,
        users: Mapping[str, Sequence[str]] | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
        anonymous: Sequence[str] = (),
    ) -> None:
        tid = len(self.targets) + 1
        self.targets.append(
            TargetRecord(tid, name, tuple(repositories), tuple(include), tuple(exclude))
        )
        for user, actions in (users or {}).items():
            self.grants.append(GrantRecord(tid, self._user_ids[user], None, tuple(actions)))
        for group, actions in (groups or {}).items():
            self.grants.append(GrantRecord(tid, None, self._group_ids[group], tuple(actions)))
        if anonymous:
            self.grants.append(GrantRecord(tid, None, None, tuple(anonymous)))

    def snapshot(self, generation: int = 1) -> IdentitySnapshot:
        return IdentitySnapshot.build(
            generation,
            self.users,
            self.groups,
            self.memberships,
            self.tokens,
            self.targets,
            self.grants,
        )


# --- who gets what ---------------------------------------------------------------------------


def test_a_target_grants_a_user_its_actions_on_its_repositories_only() -> None:
    world = World()
    alice = world.user("alice")
    bob = world.user("bob")
    world.target("dev", ["dev"], users={"alice": ["read", "deploy"]})
    snap = world.snapshot()

    assert snap.actions(alice, "dev", "shop/cart") == acts("read deploy")
    assert snap.actions(alice, "dev", "a/b/c/d") == acts("read deploy")
    assert snap.actions(alice, "prod", "shop/cart") == frozenset()
    assert snap.actions(alice, "devx", "shop/cart") == frozenset()
    assert snap.actions(bob, "dev", "shop/cart") == frozenset()
    assert snap.actions(ANONYMOUS, "dev", "shop/cart") == frozenset()


def test_group_members_get_the_group_grants() -> None:
    world = World()
    world.group("developers")
    world.group("testers")
    dana = world.user("dana", groups=["developers"])
    both = world.user("both", groups=["developers", "testers"])
    outsider = world.user("outsider")
    world.target("dev", ["dev"], groups={"developers": ["read", "deploy"], "testers": ["read"]})
    world.target("test", ["test"], groups={"testers": ["read", "annotate"]})
    snap = world.snapshot()

    assert snap.actions(dana, "dev", "app") == acts("read deploy")
    assert snap.actions(dana, "test", "app") == frozenset()
    assert snap.actions(both, "dev", "app") == acts("read deploy")
    assert snap.actions(both, "test", "app") == acts("read annotate")
    assert snap.actions(outsider, "dev", "app") == frozenset()


def test_grants_add_up_across_the_user_its_groups_and_several_targets() -> None:
    world = World()
    world.group("ci")
    bot = world.user("ci-bot", kind="service", groups=["ci"])
    world.target("a", ["dev"], users={"ci-bot": ["read"]}, groups={"ci": ["deploy"]})
    world.target("b", ["dev", "test"], include=["shop/**"], groups={"ci": ["promote"]})
    world.target("c", ["*"], anonymous=["read"])
    snap = world.snapshot()

    assert snap.actions(bot, "dev", "shop/cart") == acts("read deploy promote")
    assert snap.actions(bot, "dev", "tools/lint") == acts("read deploy")
    assert snap.actions(bot, "test", "shop/cart") == acts("read promote")
    assert snap.actions(bot, "prod", "shop/cart") == acts("read")


def test_user_ids_and_group_ids_do_not_mix() -> None:
    world = World()
    group_id = world.group("ops")
    first = world.user("first")  # user id 1, group id 1: not a member
    assert first.id == group_id
    world.target("prod", ["prod"], groups={"ops": ["read", "manage"]})
    world.target("dev", ["dev"], users={"first": ["read"]})
    snap = world.snapshot()

    assert snap.actions(first, "prod", "app") == frozenset()
    assert snap.actions(first, "dev", "app") == acts("read")


def test_what_anonymous_may_do_every_signed_in_principal_may_do() -> None:
    world = World()
    world.group("developers")
    alice = world.user("alice")
    dana = world.user("dana", groups=["developers"])
    bot = world.user("bot", kind="service")
    world.target("public", ["hub"], anonymous=["read"])
    world.target("dev", ["dev"], groups={"developers": ["deploy"]})
    snap = world.snapshot()

    for who in (ANONYMOUS, alice, dana, bot):
        assert Action.READ in snap.actions(who, "hub", "library/nginx"), who
    assert snap.actions(ANONYMOUS, "dev", "app") == frozenset()
    assert snap.actions(dana, "dev", "app") == acts("deploy")
    assert snap.anonymous_reads_anything()


def test_anonymous_reads_nothing_without_an_anonymous_grant() -> None:
    world = World()
    world.group("developers")
    world.user("alice")
    world.target("dev", ["dev"], users={"alice": ["read"]}, groups={"developers": ["read"]})
    snap = world.snapshot()

    assert not snap.anonymous_reads_anything()
    assert snap.actions(ANONYMOUS, "dev", "app") == frozenset()


def test_admins_may_do_everything_everywhere() -> None:
    world = World()
    admin = world.user("admin", admin=True)
    snap = world.snapshot()  # no targets at all

    assert snap.actions(admin, "prod", "shop/cart") == ALL
    assert snap.actions(admin, "no-such-repo", "x") == ALL


# --- repositories and images -----------------------------------------------------------------


def test_include_and_exclude_image_globs() -> None:
    world = World()
    alice = world.user("alice")
    world.target(
        "shop",
        ["dev"],
        include=["shop/**", "tools/*"],
        exclude=["shop/secret/**", "**/debug"],
        users={"alice": ["read"]},
    )
    snap = world.snapshot()

    def reads(image: str) -> bool:
        return Action.READ in snap.actions(alice, "dev", image)

    assert reads("shop/cart")
    assert reads("shop/cart/v2")
    assert reads("tools/lint")
    assert not reads("tools/lint/extra")  # "*" is one segment
    assert not reads("other/app")  # not included
    assert not reads("shop/secret")  # excluded ("a/**" covers "a")
    assert not reads("shop/secret/keys")
    assert not reads("shop/cart/debug")
    assert not reads("tools/debug")


def test_an_exclude_wins_over_an_include_only_within_its_target() -> None:
    world = World()
    alice = world.user("alice")
    world.target("most", ["dev"], exclude=["secret/**"], users={"alice": ["read", "deploy"]})
    world.target("secret", ["dev"], include=["secret/**"], users={"alice": ["read"]})
    snap = world.snapshot()

    assert snap.actions(alice, "dev", "app") == acts("read deploy")
    assert snap.actions(alice, "dev", "secret/key") == acts("read")


def test_repository_globs() -> None:
    world = World()
    alice = world.user("alice")
    world.target("teams", ["team-*"], users={"alice": ["read"]})
    world.target("all", ["*"], users={"alice": ["annotate"]})
    world.target("one", ["dev"], users={"alice": ["deploy"]})
    snap = world.snapshot()

    assert snap.actions(alice, "team-a", "app") == acts("read annotate")
    assert snap.actions(alice, "teamb", "app") == acts("annotate")
    assert snap.actions(alice, "dev", "app") == acts("annotate deploy")
    assert snap.actions(alice, "development", "app") == acts("annotate")


def test_actions_the_code_does_not_know_are_ignored() -> None:
    """A row written by a newer release must not break evaluation in this one."""
    world = World()
    alice = world.user("alice")
    world.target("dev", ["dev"], users={"alice": ["read", "teleport"]})

    assert world.snapshot().actions(alice, "dev", "app") == acts("read")


def test_asking_twice_gives_the_same_answer_to_each_principal() -> None:
    world = World()
    world.group("developers")
    alice = world.user("alice", groups=["developers"])
    bob = world.user("bob")
    world.target("dev", ["dev"], groups={"developers": ["read", "deploy"]}, anonymous=["read"])
    snap = world.snapshot()

    for _ in range(2):
        assert snap.actions(alice, "dev", "app") == acts("read deploy")
        assert snap.actions(bob, "dev", "app") == acts("read")
        assert snap.actions(ANONYMOUS, "dev", "app") == acts("read")
        assert snap.actions(alice, "dev", "app2") == acts("read deploy")


# --- disabled, deleted, re-created principals -------------------------------------------------


def test_a_disabled_principal_keeps_only_what_anonymous_has() -> None:
    world = World()
    world.group("developers")
    gone = world.user("gone", disabled=True, groups=["developers"])
    world.target("dev", ["dev"], users={"gone": ["deploy"]}, groups={"developers": ["delete"]})
    world.target("public", ["hub"], anonymous=["read"])
    snap = world.snapshot()

    assert snap.actions(gone, "dev", "app") == frozenset()
    assert snap.actions(gone, "hub", "app") == acts("read")
    assert snap.current(gone) is None


def test_a_principal_deleted_and_recreated_under_its_name_is_not_the_same() -> None:
    """A JWT of the old ``bob`` must not act as the new ``bob``."""
    world = World()
    world.user("admin", admin=True)
    new_bob = world.user("bob", user_id=7)
    world.target("dev", ["dev"], users={"bob": ["read", "deploy"]})
    snap = world.snapshot()
    old_bob = Principal("user", "bob", False, 3)

    assert snap.current(old_bob) is None
    assert snap.actions(old_bob, "dev", "app") == frozenset()
    assert snap.actions(new_bob, "dev", "app") == acts("read deploy")


def test_a_principal_that_no_longer_exists() -> None:
    world = World()
    world.target("public", ["hub"], anonymous=["read"])
    snap = world.snapshot()
    ghost = Principal("user", "ghost", False, 42)

    assert snap.current(ghost) is None
    assert snap.actions(ghost, "hub", "app") == acts("read")
    assert snap.actions(ghost, "dev", "app") == frozenset()


def test_current_gives_the_live_entry() -> None:
    world = World()
    world.group("ci")
    bot = world.user("ci-bot", kind="service", groups=["ci"])
    snap = world.snapshot()

    entry = snap.current(bot)

    assert entry is not None
    assert (entry.name, entry.kind, entry.is_admin) == ("ci-bot", "service", False)
    assert entry.password_hash is None
    assert entry.principal("abc123def456") == Principal(
        "service", "ci-bot", False, bot.id, "abc123def456"
    )
    # same name, other kind: not the same principal
    assert snap.current(Principal("user", "ci-bot", False, bot.id)) is None


def test_entry_lookups() -> None:
    world = World()
    alice = world.user("alice")
    snap = world.snapshot()

    assert snap.entry("alice") is not None
    assert snap.entry("Alice") is None
    assert alice.id is not None
    entry = snap.entry_by_id(alice.id)
    assert entry is not None and entry.name == "alice"
    assert snap.entry_by_id(999) is None


# --- access-token liveness -------------------------------------------------------------------


def test_a_principal_signed_in_with_an_active_token_is_live() -> None:
    world = World()
    world.user("alice")
    world.token("aaaaaaaaaaaa", "alice")
    snap = world.snapshot()
    alice = snap.entry("alice")
    assert alice is not None

    assert snap.current(alice.principal("aaaaaaaaaaaa")) == alice


def test_a_principal_whose_token_is_gone_expired_or_someone_elses_is_not_live() -> None:
    world = World()
    world.user("alice")
    world.user("bob")
    world.token("expired00000", "alice", expires_at=PAST)
    world.token("bobs00000000", "bob")
    snap = world.snapshot()  # a revoked token is not loaded: "revoked00000" stands for it
    alice = snap.entry("alice")
    assert alice is not None

    assert snap.current(alice.principal("revoked00000")) is None
    assert snap.current(alice.principal("expired00000")) is None
    assert snap.current(alice.principal("bobs00000000")) is None
    assert snap.current(alice.principal()) == alice  # signed in with a password


def test_token_active_checks_owner_and_expiry() -> None:
    world = World()
    alice = world.user("alice")
    bob = world.user("bob")
    expires = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    world.token("tok000000000", "alice", expires_at=expires)
    snap = world.snapshot()
    assert alice.id is not None and bob.id is not None
    deadline = expires.timestamp()
    a, b = snap.entry("alice"), snap.entry("bob")
    assert a is not None and b is not None

    assert snap.token_active("tok000000000", a, now=deadline - 1)
    assert not snap.token_active("tok000000000", a, now=deadline)
    assert not snap.token_active("tok000000000", a, now=deadline + 1)
    assert not snap.token_active("tok000000000", b, now=deadline - 1)
    assert not snap.token_active("unknown00000", a, now=deadline - 1)


def test_a_session_token_ends_when_the_password_changes() -> None:
    """A token made with ``ends_with_password`` carries the password mark it was made with."""
    world = World()
    world.user("alice")
    snap = world.snapshot()
    alice = snap.entry("alice")
    assert alice is not None and alice.password_mark is not None
    expires = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    now = expires.timestamp() - 60
    for token_id, mark in (("sess00000000", alice.password_mark), ("other0000000", "0" * 16)):
        world.tokens.append(
            TokenRecord(token_id, alice.id, "ui session", "$h", CREATED, expires, None, None, mark)
        )
    snap = world.snapshot()
    alice = snap.entry("alice")
    assert alice is not None
    assert snap.token_active("sess00000000", alice, now=now)
    assert not snap.token_active("other0000000", alice, now=now)  # made with another password


def test_naive_expiry_times_are_utc() -> None:
    """SQLite hands back naive datetimes for timezone-aware columns: they are UTC."""
    world = World()
    alice = world.user("alice")
    world.tokens.append(
        TokenRecord("naive0000000", 1, "t", "$h", CREATED, datetime(2030, 6, 1, 12, 0), None)
    )
    snap = world.snapshot()
    deadline = datetime(2030, 6, 1, 12, 0, tzinfo=UTC).timestamp()
    assert alice.id == 1

    entry = snap.entry("alice")
    assert entry is not None
    assert snap.token_active("naive0000000", entry, now=deadline - 1)
    assert not snap.token_active("naive0000000", entry, now=deadline)


# --- the default installation (PRODUCT.md §3, docs/access.md "Defaults") ------------------------

SHARED = ("hub", "docker", "release")
EVERY_REPOSITORY = ("dev", "test", "prod", *SHARED)

# docs/access.md, "Defaults (first start)": group -> repository -> actions
DEFAULTS_TABLE: dict[str, dict[str, str]] = {
    "developers": {
        "dev": "read annotate deploy overwrite delete",
        "test": "read",
        "prod": "",
        **dict.fromkeys(SHARED, "read"),
    },
    "testers": {
        "dev": "read",
        "test": "read annotate",
        "prod": "read",
        **dict.fromkeys(SHARED, "read"),
    },
    "operations": {
        "dev": "read",
        "test": "read",
        "prod": "read annotate promote delete manage",
        **dict.fromkeys(SHARED, "read"),
    },
    "ci": {
        "dev": "read annotate deploy overwrite delete promote",
        "test": "read annotate delete promote",
        "prod": "read promote",
        **dict.fromkeys(SHARED, "read"),
    },
}


@pytest.fixture(scope="module")
def defaults() -> tuple[IdentitySnapshot, dict[str, Principal]]:
    """DEFAULT_TARGETS as bootstrap stores them, with one member per default group (the ``ci``
    member a service account, as PRODUCT.md intends) plus a user in no group."""
    world = World()
    for group in DEFAULT_GROUPS:
        world.group(group)
    members = {
        group: world.user(
            f"{group}-member", kind="service" if group == "ci" else "user", groups=[group]
        )
        for group in DEFAULT_GROUPS
    }
    members["nobody"] = world.user("nobody")
    for target in DEFAULT_TARGETS:
        world.target(
            target.name,
            target.repositories,
            target.include,
            target.exclude,
            groups=target.groups,
            anonymous=target.anonymous,
        )
    return world.snapshot(), members


def test_the_defaults_table_names_every_default_group() -> None:
    assert set(DEFAULTS_TABLE) == set(DEFAULT_GROUPS)
    assert {t.name for t in DEFAULT_TARGETS} == {"dev", "test", "prod", "shared"}


@pytest.mark.parametrize(
    ("group", "repository"), list(itertools.product(DEFAULT_GROUPS, EVERY_REPOSITORY))
)
@pytest.mark.parametrize("image", ["shop/cart", "app", "a/b/c/d"])
def test_default_targets_follow_the_documented_table(
    defaults: tuple[IdentitySnapshot, dict[str, Principal]],
    group: str,
    repository: str,
    image: str,
) -> None:
    snap, members = defaults
    expected = acts(DEFAULTS_TABLE[group][repository])

    held = snap.actions(members[group], repository, image)

    for action in Action:  # one line per action in the failure report
        assert (action in held) == (action in expected), (group, repository, action.value)


@pytest.mark.parametrize("repository", [*EVERY_REPOSITORY, "elsewhere"])
def test_by_default_anonymous_and_groupless_users_get_nothing(
    defaults: tuple[IdentitySnapshot, dict[str, Principal]], repository: str
) -> None:
    snap, members = defaults

    assert snap.actions(ANONYMOUS, repository, "shop/cart") == frozenset()
    assert snap.actions(members["nobody"], repository, "shop/cart") == frozenset()
    assert not snap.anonymous_reads_anything()

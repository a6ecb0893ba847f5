"""Start-up: the default installation of PRODUCT.md §3 (repositories, groups, permission targets,
admin), idempotent restarts, installations from before identity (issue 2), and the refusal to
start on a database that grants anonymous write access."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher
from pydantic import SecretStr
from sqlalchemy import Table, func, insert, select

from tidegate.auth.identity import load_snapshot
from tidegate.auth.passwords import verify_password
from tidegate.auth.principals import Action, Principal
from tidegate.config import DEFAULT_GROUPS, PermissionTargetSettings, Settings
from tidegate.db import Database
from tidegate.db import access as access_q
from tidegate.db import remote as remote_q
from tidegate.db import repositories as repo_q
from tidegate.db import users as user_q
from tidegate.db.engine import MIGRATIONS
from tidegate.db.records import GrantRecord
from tidegate.db.tables import permission_grants, repositories, users
from tidegate.errors import ConfigInvalid
from tidegate.services.bootstrap import (
    DEFAULT_TARGETS,
    TOKEN_SECRET,
    bootstrap,
    token_secret,
)

_quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    yield database
    database.dispose()


def count(db: Database, table: Table) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def group_names(db: Database) -> list[str]:
    with db.read() as conn:
        return [g.name for g in user_q.list_groups(conn)]


def target_names(db: Database) -> list[str]:
    with db.read() as conn:
        return [t.name for t in access_q.list_targets(conn)]


def member_of(db: Database, name: str, groups: list[str], kind: str = "user") -> Principal:
    """A principal added after start-up, in ``groups``."""
    with db.transaction() as conn:
        user_id = user_q.create(conn, name, None, is_admin=False, kind=kind)
        for group in groups:
            record = user_q.get_group(conn, group)
            assert record is not None
            user_q.add_member(conn, record.id, user_id)
    return Principal(kind, name, False, user_id)


# --- first start -----------------------------------------------------------------------------


def test_first_start_creates_the_default_installation(db: Database) -> None:
    result = bootstrap(db, Settings())

    assert result.first_start is True
    with db.read() as conn:
        repos = {r.key: r for r in repo_q.list_all(conn)}
        admin = user_q.get_by_username(conn, "admin")
        assert user_q.get_secret(conn, TOKEN_SECRET)
    assert {k: (r.kind, r.stage) for k, r in repos.items()} == {
        "dev": ("local", "dev"),
        "test": ("local", "test"),
        "prod": ("local", "prod"),
        "hub": ("remote", None),
        "docker": ("virtual", None),
        "release": ("virtual", None),
    }
    assert repos["test"].options["allow_push"] is False
    assert repos["test"].options["gate"] == {"from": ["dev"]}
    assert repos["prod"].options["immutable_tags"] is True
    assert repos["prod"].options["gate"]["require"] == ["qa.automated=passed", "qa.uat=passed"]
    assert repos["hub"].options["upstream"] == "https://registry-1.docker.io"
    assert repos["docker"].options["members"] == ["dev", "test", "prod", "hub"]
    assert repos["docker"].options["default_deploy"] == "dev"
    assert repos["release"].options["members"] == ["prod", "hub"]
    # each repository shows only options of its kind (no allow_push on a cache, no TTL on dev)
    assert "allow_push" not in repos["hub"].options and "tag_ttl" not in repos["dev"].options
    assert "upstream" not in repos["docker"].options
    assert admin is not None and admin.is_admin and admin.kind == "user" and not admin.disabled
    assert sorted(group_names(db)) == sorted(DEFAULT_GROUPS)
    assert target_names(db) == ["dev", "prod", "shared", "test"]


def test_the_admin_password_is_random_and_given_once(db: Database, tmp_path: Path) -> None:
    result = bootstrap(db, Settings())

    assert result.admin_password is not None and len(result.admin_password) >= 16
    with db.read() as conn:
        admin = user_q.get_by_username(conn, "admin")
    assert admin is not None and admin.password_hash is not None
    assert verify_password(admin.password_hash, result.admin_password)

    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert bootstrap(other, Settings()).admin_password != result.admin_password
    finally:
        other.dispose()


def test_a_configured_admin_password_is_used_and_not_echoed(db: Database) -> None:
    result = bootstrap(db, Settings(admin_password=SecretStr("chosen by the operator")))

    assert result.admin_password is None
    with db.read() as conn:
        admin = user_q.get_by_username(conn, "admin")
    assert admin is not None and admin.password_hash is not None
    assert verify_password(admin.password_hash, "chosen by the operator")


def test_stored_default_targets_are_the_documented_ones(db: Database) -> None:
    bootstrap(db, Settings())

    with db.read() as conn:
        stored = {t.name: t for t in access_q.list_targets(conn)}
        groups = {g.id: g.name for g in user_q.list_groups(conn)}
        grants = access_q.list_grants(conn)
    for target in DEFAULT_TARGETS:
        record = stored[target.name]
        assert list(record.repositories) == target.repositories
        assert (list(record.include), list(record.exclude)) == (["**"], [])
        held = {
            groups[g.group_id]: sorted(g.actions)
            for g in grants
            if g.target_id == record.id and g.group_id is not None
        }
        assert held == {g: sorted(a) for g, a in target.groups.items()}, target.name
    assert all(g.user_id is None and g.group_id is not None for g in grants)  # no anonymous


def test_the_defaults_grant_group_members_what_the_table_says(db: Database) -> None:
    """A few cells of docs/access.md's table, through the stored rows (tests/unit/auth/
    test_snapshot.py checks every cell of the same targets)."""
    bootstrap(db, Settings())
    dana = member_of(db, "dana", ["developers"])
    bot = member_of(db, "ci-bot", ["ci"], kind="service")
    olga = member_of(db, "olga", ["operations"])
    nobody = member_of(db, "nobody", [])
    snap = load_snapshot(db)

    assert Action.DEPLOY in snap.actions(dana, "dev", "shop/cart")
    assert snap.actions(dana, "prod", "shop/cart") == frozenset()
    assert snap.actions(dana, "docker", "library/nginx") == {Action.READ}
    assert Action.PROMOTE in snap.actions(bot, "test", "shop/cart")
    assert Action.DEPLOY not in snap.actions(bot, "prod", "shop/cart")
    assert Action.MANAGE in snap.actions(olga, "prod", "shop/cart")
    for repo in ("dev", "test", "prod", "hub", "docker", "release"):
        assert snap.actions(nobody, repo, "app") == frozenset()
    assert not snap.anonymous_reads_anything()


# --- later starts ----------------------------------------------------------------------------


def test_a_second_start_changes_nothing(db: Database) -> None:
    bootstrap(db, Settings())
    with db.read() as conn:
        secret = user_q.get_secret(conn, TOKEN_SECRET)
        admin = user_q.get_by_username(conn, "admin")
        grants = access_q.list_grants(conn)

    again = bootstrap(db, Settings(admin_password=SecretStr("ignored after the first start")))

    assert (again.first_start, again.admin_password) == (False, None)
    assert token_secret(db) == secret
    with db.read() as conn:
        assert user_q.get_by_username(conn, "admin") == admin  # same password hash
        assert repo_q.count(conn) == 6
        assert len(user_q.list_users(conn)) == 1
        assert access_q.list_grants(conn) == grants
    assert sorted(group_names(db)) == sorted(DEFAULT_GROUPS)
    assert target_names(db) == ["dev", "prod", "shared", "test"]


def test_defaults_an_admin_deleted_are_not_recreated(db: Database) -> None:
    bootstrap(db, Settings())
    with db.transaction() as conn:
        testers = user_q.get_group(conn, "testers")
        prod = access_q.get_target(conn, "prod")
        assert testers is not None and prod is not None
        user_q.delete_group(conn, testers.id)
        access_q.delete_target(conn, prod.id)

    bootstrap(db, Settings())

    assert "testers" not in group_names(db)
    assert "prod" not in target_names(db)


def test_configured_groups_and_targets_replace_the_defaults(db: Database) -> None:
    settings = Settings(
        groups=["platform"],
        permission_targets=[
            PermissionTargetSettings(
                name="everything",
                repositories=["*"],
                exclude=["secret/**"],
                groups={"platform": ["read", "deploy"]},
                anonymous=["read"],
            )
        ],
    )

    bootstrap(db, settings)

    assert group_names(db) == ["platform"]
    assert target_names(db) == ["everything"]
    pat = member_of(db, "pat", ["platform"])
    snap = load_snapshot(db)
    assert snap.actions(pat, "prod", "app") == {Action.READ, Action.DEPLOY}
    assert snap.actions(pat, "prod", "secret/key") == frozenset()
    assert snap.anonymous_reads_anything()


# --- an installation from before identity (issue 2) ------------------------------------------


def migrate_to(db: Database, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_an_issue_2_installation_gets_groups_and_targets(db: Database) -> None:
    migrate_to(db, "0001")
    old_hash = _quick.hash("the admin's password")
    with db.transaction() as conn:
        for key, stage in (("dev", "dev"), ("test", "test"), ("prod", "prod")):
            repo_q.create(conn, key, "local", stage, {})
        conn.execute(  # the users table of 0001: no kind, disabled or description
            insert(users).values(
                username="admin",
                password_hash=old_hash,
                is_admin=True,
                created_at=datetime.now(UTC),
            )
        )
        user_q.set_secret(conn, TOKEN_SECRET, "the signing key clients' tokens carry")

    result = bootstrap(db, Settings())

    assert (result.first_start, result.admin_password) == (False, None)
    with db.read() as conn:
        # issue 5: the remote and virtual defaults of §3 arrive too
        assert [r.key for r in repo_q.list_all(conn)] == [
            "dev",
            "docker",
            "hub",
            "prod",
            "release",
            "test",
        ]
        [admin] = user_q.list_users(conn)
    assert (admin.username, admin.password_hash, admin.is_admin) == ("admin", old_hash, True)
    assert (admin.kind, admin.disabled) == ("user", False)
    assert token_secret(db) == "the signing key clients' tokens carry"
    assert sorted(group_names(db)) == sorted(DEFAULT_GROUPS)
    assert target_names(db) == ["dev", "prod", "shared", "test"]
    dana = member_of(db, "dana", ["developers"])
    assert Action.DEPLOY in load_snapshot(db).actions(dana, "dev", "shop/cart")

    bootstrap(db, Settings())  # and once is enough
    assert count(db, permission_grants) == sum(len(t.groups) for t in DEFAULT_TARGETS)


# --- anonymous write access ------------------------------------------------------------------


WRITES = ["annotate", "deploy", "overwrite", "delete", "promote", "manage"]


@pytest.mark.parametrize("write", WRITES)
def test_a_database_granting_anonymous_write_access_refuses_to_start(
    db: Database, write: str
) -> None:
    bootstrap(db, Settings())
    with db.transaction() as conn:
        dev = access_q.get_target(conn, "dev")
        assert dev is not None
        grants = [g for g in access_q.list_grants(conn) if g.target_id == dev.id]
        access_q.replace_grants(conn, dev.id, [*grants, GrantRecord(dev.id, None, None, (write,))])

    with pytest.raises(ConfigInvalid) as refused:
        bootstrap(db, Settings())

    assert refused.value.message.startswith("refusing to start")
    assert "dev" in refused.value.message
    assert "anonymous" in refused.value.message


def test_anonymous_read_does_not_stop_the_start(db: Database) -> None:
    bootstrap(db, Settings())
    with db.transaction() as conn:
        shared = access_q.get_target(conn, "shared")
        assert shared is not None
        grants = [g for g in access_q.list_grants(conn) if g.target_id == shared.id]
        access_q.replace_grants(
            conn, shared.id, [*grants, GrantRecord(shared.id, None, None, ("read",))]
        )

    assert bootstrap(db, Settings()).first_start is False


def test_token_secret_needs_a_started_database(db: Database) -> None:
    db.migrate()
    with pytest.raises(RuntimeError, match="tidegate serve"):
        token_secret(db)


# --- an installation from before remote and virtual repositories (issue 5) --------------------


def test_an_old_installation_gets_hub_docker_and_release_once(db: Database) -> None:
    migrate_to(db, "0004")
    with db.transaction() as conn:
        for key, stage in (("dev", "dev"), ("test", "test"), ("prod", "prod")):
            repo_q.create(conn, key, "local", stage, {})
        user_q.create(conn, "admin", _quick.hash("the admin's password"), is_admin=True)

    bootstrap(db, Settings())

    with db.read() as conn:
        repos = {r.key: r for r in repo_q.list_all(conn)}
    assert sorted(repos) == ["dev", "docker", "hub", "prod", "release", "test"]
    assert (repos["hub"].kind, repos["hub"].options["upstream"]) == (
        "remote",
        "https://registry-1.docker.io",
    )
    assert repos["docker"].options["members"] == ["dev", "test", "prod", "hub"]
    assert repos["docker"].options["default_deploy"] == "dev"
    assert repos["release"].options["members"] == ["prod", "hub"]

    with db.transaction() as conn:  # an admin removes hub: it stays removed
        conn.execute(repositories.delete().where(repositories.c.key == "hub"))
    bootstrap(db, Settings())
    with db.read() as conn:
        assert "hub" not in {r.key for r in repo_q.list_all(conn)}


def test_an_upstream_password_is_kept_out_of_the_options(db: Database) -> None:
    settings = Settings.model_validate(
        {
            "repositories": [
                {
                    "key": "hub",
                    "kind": "remote",
                    "upstream": "https://registry.example",
                    "upstream_username": "puller",
                    "upstream_password": "s3cret-pull-password",
                }
            ]
        }
    )
    bootstrap(db, settings)
    with db.read() as conn:
        hub = repo_q.get_by_key(conn, "hub")
        assert hub is not None
        assert "s3cret-pull-password" not in repr(hub.options)
        assert hub.options["upstream_username"] == "puller"
        assert remote_q.get_secret(conn, hub.id, remote_q.UPSTREAM_PASSWORD) == (
            "s3cret-pull-password"
        )

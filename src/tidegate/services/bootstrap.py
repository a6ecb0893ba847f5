"""Start-up: schema, the default installation (PRODUCT.md §3: repositories, groups,
permission targets, the admin user), the signing secret, and the refusal to run with
anonymous write access."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tidegate.auth.passwords import generate_password, hash_password
from tidegate.config import DEFAULT_GROUPS, PermissionTargetSettings, RepositorySettings, Settings
from tidegate.db import Database
from tidegate.db import access as access_q
from tidegate.db import remote as remote_q
from tidegate.db import repositories as repo_q
from tidegate.db import users as user_q
from tidegate.errors import ConfigInvalid
from tidegate.services.permissions import TargetView, anonymous_write_grants, write_target
from tidegate.services.repositories import KIND_FIELDS
from tidegate.services.retention import parse_policy

TOKEN_SECRET = "token_signing_key"
IDENTITY_DEFAULTS = "defaults_identity_v1"  # marker: the §3 groups and targets were created
REPOSITORY_DEFAULTS = "defaults_repositories_v5"  # marker: hub, docker, release were added

DEFAULT_REPOSITORIES = [
    RepositorySettings(key="dev", kind="local", stage="dev"),
    RepositorySettings(
        key="test", kind="local", stage="test", allow_push=False, gate={"from": ["dev"]}
    ),
    RepositorySettings(
        key="prod",
        kind="local",
        stage="prod",
        protected=True,
        allow_push=False,
        immutable_tags=True,
        gate={"from": ["test"], "require": ["qa.automated=passed", "qa.uat=passed"]},
    ),
    RepositorySettings(key="hub", kind="remote", upstream="https://registry-1.docker.io"),
    RepositorySettings(
        key="docker",
        kind="virtual",
        members=["dev", "test", "prod", "hub"],
        default_deploy="dev",
    ),
    RepositorySettings(key="release", kind="virtual", members=["prod", "hub"]),
]

_DEV = ["read", "annotate", "deploy", "overwrite", "delete"]
DEFAULT_TARGETS = [
    PermissionTargetSettings(
        name="dev",
        repositories=["dev"],
        groups={
            "developers": _DEV,
            "testers": ["read"],
            "operations": ["read"],
            "ci": [*_DEV, "promote"],
        },
    ),
    PermissionTargetSettings(
        name="test",
        repositories=["test"],
        groups={
            "developers": ["read"],
            "testers": ["read", "annotate"],
            "operations": ["read"],
            "ci": ["read", "annotate", "delete", "promote"],
        },
    ),
    PermissionTargetSettings(
        name="prod",
        repositories=["prod"],
        groups={
            "testers": ["read"],
            "operations": ["read", "annotate", "promote", "delete", "manage"],
            "ci": ["read", "promote"],
        },
    ),
    PermissionTargetSettings(
        name="shared",
        repositories=["hub", "docker", "release"],
        groups={g: ["read"] for g in DEFAULT_GROUPS},
    ),
]


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    first_start: bool
    admin_password: str | None  # set only when generated now: print it once


def _options(repo: RepositorySettings) -> dict[str, Any]:
    """The options a repository of this kind takes (others would only confuse its views)."""
    data = repo.model_dump(exclude={"key", "kind", "stage", "upstream_password"}, mode="json")
    if repo.retention is not None:  # validated at start (cli): stored in its normal form
        data["retention"] = parse_policy(repo.retention).as_dict()
    relevant = (*KIND_FIELDS[repo.kind], "retention")
    return {k: v for k, v in data.items() if k in relevant and v not in (None, [], {})}


def _create_repository(conn: Connection, repo: RepositorySettings) -> None:
    record = repo_q.create(conn, repo.key, repo.kind, repo.stage, _options(repo))
    if repo.upstream_password is not None:  # kept out of the options every view shows
        remote_q.set_secret(
            conn, record.id, remote_q.UPSTREAM_PASSWORD, repo.upstream_password.get_secret_value()
        )


def _repository_defaults(conn: Connection, settings: Settings, first: bool) -> None:
    """Installations made before remote and virtual repositories were served lack the §3
    ``hub``, ``docker`` and ``release``: add the missing ones once (not again if an admin
    deletes them later). Not for installations configured with their own repository list."""
    if user_q.get_secret(conn, REPOSITORY_DEFAULTS) is not None:
        return
    if not first and settings.repositories is None:
        existing = {r.key for r in repo_q.list_all(conn)}
        for repo in DEFAULT_REPOSITORIES:
            if repo.kind != "local" and repo.key not in existing:
                members = [m for m in repo.members if m in existing or m == "hub"]
                deploy = repo.default_deploy if repo.default_deploy in members else None
                _create_repository(
                    conn, repo.model_copy(update={"members": members, "default_deploy": deploy})
                )
                existing.add(repo.key)
    user_q.set_secret(conn, REPOSITORY_DEFAULTS, "1")


def _identity_defaults(conn: Connection, settings: Settings) -> None:
    """Groups and permission targets, once per installation (also for installations that
    started before they existed). An admin may delete them later; they are not re-created."""
    if user_q.get_secret(conn, IDENTITY_DEFAULTS) is not None:
        return
    for name in DEFAULT_GROUPS if settings.groups is None else settings.groups:
        if user_q.get_group(conn, name) is None:
            user_q.create_group(conn, name, None)
    targets = settings.permission_targets
    if targets is None:
        targets = DEFAULT_TARGETS
    for target in targets:
        if access_q.get_target(conn, target.name) is None:
            write_target(
                conn,
                TargetView(
                    target.name,
                    list(target.repositories),
                    list(target.include),
                    list(target.exclude),
                    {},
                    {g: list(a) for g, a in target.groups.items()},
                    list(target.anonymous),
                ),
            )
    access_q.bump_auth_generation(conn)
    user_q.set_secret(conn, IDENTITY_DEFAULTS, "1")


def bootstrap(db: Database, settings: Settings) -> BootstrapResult:
    """Idempotent: migrates, creates the defaults where missing, and refuses (ConfigInvalid) a
    database that grants anonymous write access."""
    db.migrate()
    with db.transaction() as conn:
        first = repo_q.count(conn) == 0
        generated = None
        if first:
            for repo in settings.repositories or DEFAULT_REPOSITORIES:
                _create_repository(conn, repo)
            if settings.admin_password is not None:
                password = settings.admin_password.get_secret_value()
            else:
                password = generated = generate_password()
            user_q.create(conn, "admin", hash_password(password), is_admin=True)
        if user_q.get_secret(conn, TOKEN_SECRET) is None:
            user_q.set_secret(conn, TOKEN_SECRET, secrets.token_urlsafe(48))
        _repository_defaults(conn, settings, first)
        _identity_defaults(conn, settings)
        open_targets = anonymous_write_grants(conn)
    if open_targets:
        raise ConfigInvalid(
            "refusing to start: permission target(s) "
            + ", ".join(open_targets)
            + " grant anonymous write access; anonymous may only be granted read"
        )
    return BootstrapResult(first, generated)


def token_secret(db: Database) -> str:
    with db.read() as conn:
        value = user_q.get_secret(conn, TOKEN_SECRET)
    if value is None:
        raise RuntimeError("the database has not been initialised: run `tidegate serve` once")
    return value

"""First start: schema, default repositories (PRODUCT.md §3), the admin user, signing secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tidegate.auth.passwords import generate_password, hash_password
from tidegate.config import RepositorySettings, Settings
from tidegate.db import Database
from tidegate.db import repositories as repo_q
from tidegate.db import users as user_q

TOKEN_SECRET = "token_signing_key"

# Issue 2 creates the stage repositories; remote and virtual defaults arrive with their issue.
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
]


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    first_start: bool
    admin_password: str | None  # set only when generated now: print it once


def _options(repo: RepositorySettings) -> dict[str, Any]:
    data = repo.model_dump(exclude={"key", "kind", "stage", "upstream_password"}, mode="json")
    return {k: v for k, v in data.items() if v not in (None, [], {})}


def bootstrap(db: Database, settings: Settings) -> BootstrapResult:
    """Idempotent: migrates, and on an empty database creates the defaults."""
    db.migrate()
    with db.transaction() as conn:
        if repo_q.count(conn) > 0:
            return BootstrapResult(False, None)
        for repo in settings.repositories or DEFAULT_REPOSITORIES:
            repo_q.create(conn, repo.key, repo.kind, repo.stage, _options(repo))
        generated = None
        if settings.admin_password is not None:
            password = settings.admin_password.get_secret_value()
        else:
            password = generated = generate_password()
        user_q.create(conn, "admin", hash_password(password), is_admin=True)
        if user_q.get_secret(conn, TOKEN_SECRET) is None:
            user_q.set_secret(conn, TOKEN_SECRET, secrets.token_urlsafe(48))
    return BootstrapResult(True, generated)


def token_secret(db: Database) -> str:
    with db.read() as conn:
        value = user_q.get_secret(conn, TOKEN_SECRET)
    if value is None:
        raise RuntimeError("the database has not been initialised: run `tidegate serve` once")
    return value

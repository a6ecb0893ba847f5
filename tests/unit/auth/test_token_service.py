"""The token service: who gets which of the scopes they ask for, and the token round trip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tidegate.auth.credentials import CredentialChecker
from tidegate.auth.identity import IdentityState
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import ANONYMOUS, Principal
from tidegate.auth.scopes import Scope, parse_scopes
from tidegate.auth.token_service import TokenService
from tidegate.auth.tokens import TokenCodec
from tidegate.db import Database
from tidegate.db import access as access_queries
from tidegate.db import users as user_queries
from tidegate.errors import Unauthorized

ADMIN = Principal("user", "admin", is_admin=True, id=1)
DEVELOPER = Principal("user", "dev", is_admin=False, id=2)
QUICK_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("unused")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'tidegate.db'}")
    database.migrate()
    with database.transaction() as conn:
        user_queries.create(conn, "admin", QUICK_HASH, is_admin=True)
        user_queries.create(conn, "dev", QUICK_HASH, is_admin=False)
    yield database
    database.dispose()


@pytest.fixture
def service(db: Database) -> TokenService:
    state = IdentityState(db)
    return TokenService(
        CredentialChecker(state), PermissionEvaluator(state), TokenCodec("k" * 64, "tidegate", 900)
    )


def grant(service: TokenService, principal: Principal, *scopes: str) -> list[Scope]:
    """What the token can do: the granted scopes that carry at least one action."""
    return [s for s in service.grant(principal, parse_scopes(list(scopes))) if s.actions]


# --- grant -------------------------------------------------------------------------------------


def test_admin_gets_the_actions_requested(service: TokenService) -> None:
    granted = grant(service, ADMIN, "repository:dev/app:pull,push", "repository:prod/app:pull")

    assert granted == [
        Scope("repository", "dev/app", ("pull", "push")),
        Scope("repository", "prod/app", ("pull",)),
    ]


def test_wildcard_expands_to_every_registry_action(service: TokenService) -> None:
    granted = grant(service, ADMIN, "repository:dev/shop/cart:*")

    assert granted == [Scope("repository", "dev/shop/cart", ("delete", "pull", "push"))]


def test_unknown_actions_are_not_granted(service: TokenService) -> None:
    granted = grant(service, ADMIN, "repository:dev/app:pull,frobnicate", "repository:dev/x:nope")

    assert granted == [Scope("repository", "dev/app", ("pull",))]


@pytest.mark.parametrize("principal", [DEVELOPER, ANONYMOUS], ids=["developer", "anonymous"])
def test_non_admin_gets_no_repository_access(service: TokenService, principal: Principal) -> None:
    granted = grant(service, principal, "repository:dev/app:pull,push", "repository:dev/app:*")

    assert granted == []


def test_invalid_repository_names_are_not_granted(service: TokenService) -> None:
    granted = grant(service, ADMIN, "repository:Dev/App:pull", "repository:dev//app:pull")

    assert granted == []


def test_catalog_for_any_signed_in_user_but_not_anonymous(service: TokenService) -> None:
    catalog = [Scope("registry", "catalog", ("*",))]

    assert grant(service, ADMIN, "registry:catalog:*") == catalog
    assert grant(service, DEVELOPER, "registry:catalog:*") == catalog
    assert grant(service, ANONYMOUS, "registry:catalog:*") == []
    assert grant(service, ADMIN, "registry:other:*") == []


# --- issue, verify, refresh ----------------------------------------------------------------------


def test_issued_token_carries_what_was_granted(service: TokenService) -> None:
    issued = service.issue(ADMIN, parse_scopes(["repository:dev/app:pull"]), with_refresh=False)

    principal, claims = service.verify_bearer(issued.token)

    assert issued.refresh_token is None
    assert issued.expires_in == 900
    assert issued.granted == (Scope("repository", "dev/app", ("pull",)),)
    assert principal == ADMIN
    assert claims.allows("repository", "dev/app", "pull")
    assert not claims.allows("repository", "dev/app", "push")


def test_developer_token_grants_nothing_it_was_not_given(service: TokenService) -> None:
    issued = service.issue(DEVELOPER, parse_scopes(["repository:dev/app:push"]), False)

    principal, claims = service.verify_bearer(issued.token)

    assert principal == DEVELOPER
    assert not claims.allows("repository", "dev/app", "push")
    assert not claims.allows("repository", "dev/app", "pull")
    assert all(scope.actions == () for scope in claims.access)


def test_refresh_token_gives_back_the_user(service: TokenService) -> None:
    issued = service.issue(DEVELOPER, [], with_refresh=True)
    assert issued.refresh_token is not None

    assert service.principal_from_refresh(issued.refresh_token) == DEVELOPER


def test_refresh_token_of_an_unknown_user_is_refused(service: TokenService) -> None:
    ghost = service.codec.issue_refresh(Principal("user", "ghost", id=5))

    with pytest.raises(Unauthorized, match="revoked, disabled or removed"):
        service.principal_from_refresh(ghost)


def test_a_bearer_token_of_a_removed_user_is_refused(db: Database, service: TokenService) -> None:
    issued = service.issue(DEVELOPER, [], with_refresh=False)
    with db.transaction() as conn:
        user_queries.delete_user(conn, 2)
        access_queries.bump_auth_generation(conn)

    with pytest.raises(Unauthorized, match="revoked, disabled or removed"):
        service.verify_bearer(issued.token)


def test_access_token_is_not_accepted_as_refresh_token(service: TokenService) -> None:
    issued = service.issue(ADMIN, [], with_refresh=True)

    with pytest.raises(Unauthorized):
        service.principal_from_refresh(issued.token)
    with pytest.raises(Unauthorized):
        service.verify_bearer(issued.refresh_token or "")

"""Checking credentials: a password or an access token, against the identity snapshot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tidegate.auth import access_tokens
from tidegate.auth.credentials import CredentialChecker
from tidegate.auth.identity import IdentityState
from tidegate.auth.passwords import hash_password
from tidegate.auth.principals import Principal
from tidegate.db import Database
from tidegate.db import access as access_queries
from tidegate.db import users as user_queries
from tidegate.errors import Unauthorized

# Stored hashes carry their own argon2 parameters: cheap ones keep these tests fast, except
# for the one user whose hash is made exactly as production makes it.
_quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def production_hash() -> str:
    return hash_password("real password")


ADMIN = Principal("user", "admin", True, id=1)
DEV = Principal("user", "dev", False, id=2)


@pytest.fixture
def db(tmp_path: Path, production_hash: str) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'tidegate.db'}")
    database.migrate()
    with database.transaction() as conn:
        user_queries.create(conn, "admin", _quick.hash("admin password"), is_admin=True)
        user_queries.create(conn, "dev", _quick.hash("dev password"), is_admin=False)
        user_queries.create(conn, "real", production_hash, is_admin=False)
        user_queries.create(conn, "robot", None, is_admin=False, kind="service")
    yield database
    database.dispose()


@pytest.fixture
def checker(db: Database) -> CredentialChecker:
    return CredentialChecker(IdentityState(db))


def add_token(db: Database, owner_id: int, days: float = 1) -> str:
    parts = access_tokens.generate()
    now = datetime.now(UTC)
    with db.transaction() as conn:
        access_queries.create_token(
            conn, parts.id, owner_id, "t", _quick.hash(parts.secret), now, now + timedelta(days)
        )
        access_queries.bump_auth_generation(conn)
    return str(parts)


def who(principal: Principal) -> Principal:
    """The principal without the fingerprint of the password it signed in with."""
    return replace(principal, password_mark=None)


def test_right_password_gives_the_principal(checker: CredentialChecker) -> None:
    assert who(checker.authenticate("admin", "admin password")) == ADMIN
    assert who(checker.authenticate("dev", "dev password")) == DEV
    # a second login (served from the verified-credential cache) is the same
    assert who(checker.authenticate("dev", "dev password")) == DEV


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("admin", "wrong"),
        ("admin", "dev password"),
        ("Admin", "admin password"),
        ("nobody", "admin password"),
        ("", ""),
    ],
)
def test_every_failure_has_the_same_message(
    checker: CredentialChecker, username: str, password: str
) -> None:
    """The message must not tell an attacker which usernames exist."""
    with pytest.raises(Unauthorized) as raised:
        checker.authenticate(username, password)

    assert raised.value.message == "invalid username or password"


def test_unknown_username_takes_as_long_as_a_wrong_password(checker: CredentialChecker) -> None:
    """Nor must the time it takes: an unknown user costs a password check too."""

    def seconds(username: str) -> float:
        start = time.perf_counter()
        with pytest.raises(Unauthorized):
            checker.authenticate(username, "wrong password")
        return time.perf_counter() - start

    known = seconds("real")
    unknown = min(seconds("nobody") for _ in range(2))

    assert unknown > known / 4, f"unknown user refused in {unknown:.4f}s, known in {known:.4f}s"


def test_a_cached_login_does_not_accept_another_password(checker: CredentialChecker) -> None:
    checker.authenticate("dev", "dev password")

    with pytest.raises(Unauthorized):
        checker.authenticate("dev", "dev password!")


def test_a_live_principal_is_given_back_as_it_is_now(checker: CredentialChecker) -> None:
    assert checker.principal_for(Principal("user", "admin", False, id=1)) == ADMIN
    assert checker.principal_for(DEV) == DEV
    assert checker.principal_for(Principal("user", "nobody", id=9)) is None
    # same name, another account (deleted and re-created): not the same principal
    assert checker.principal_for(Principal("user", "dev", id=99)) is None


def test_an_access_token_works_as_the_password_of_its_owner(
    db: Database, checker: CredentialChecker
) -> None:
    token = add_token(db, owner_id=4)
    token_id = token.split("_")[1]

    principal = checker.authenticate("robot", token)

    assert principal == Principal("service", "robot", False, id=4, token_id=token_id)
    assert checker.recently_verified("robot", token) == principal
    with pytest.raises(Unauthorized):
        checker.authenticate("dev", token)  # someone else's name
    with pytest.raises(Unauthorized):
        checker.authenticate("robot", token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_a_service_account_has_no_password(checker: CredentialChecker) -> None:
    with pytest.raises(Unauthorized):
        checker.authenticate("robot", "")


def test_a_revoked_token_is_refused_at_once_even_when_cached(
    db: Database, checker: CredentialChecker
) -> None:
    token = add_token(db, owner_id=2)
    principal = checker.authenticate("dev", token)
    with db.transaction() as conn:
        access_queries.revoke_token(conn, principal.token_id or "", datetime.now(UTC))
        access_queries.bump_auth_generation(conn)

    assert checker.recently_verified("dev", token) is None
    with pytest.raises(Unauthorized):
        checker.authenticate("dev", token)
    assert checker.principal_for(principal) is None


def test_a_disabled_user_is_refused_at_once(db: Database, checker: CredentialChecker) -> None:
    checker.authenticate("dev", "dev password")
    with db.transaction() as conn:
        user_queries.update_user(conn, 2, disabled=True)
        access_queries.bump_auth_generation(conn)

    assert checker.recently_verified("dev", "dev password") is None
    with pytest.raises(Unauthorized):
        checker.authenticate("dev", "dev password")


def test_a_changed_password_takes_effect_at_once(db: Database, checker: CredentialChecker) -> None:
    """The old password stops working, and so does every session opened with it."""
    before = checker.authenticate("dev", "dev password")
    with db.transaction() as conn:
        user_queries.update_user(conn, 2, password_hash=_quick.hash("new password"))
        access_queries.bump_auth_generation(conn)

    with pytest.raises(Unauthorized):
        checker.authenticate("dev", "dev password")
    after = checker.authenticate("dev", "new password")
    assert who(after) == DEV
    assert checker.principal_for(before) is None
    assert checker.principal_for(after) == after


def test_a_token_session_survives_a_password_change(
    db: Database, checker: CredentialChecker
) -> None:
    """Access tokens are separate credentials: changing the password does not revoke them."""
    principal = checker.authenticate("dev", add_token(db, owner_id=2))
    with db.transaction() as conn:
        user_queries.update_user(conn, 2, password_hash=_quick.hash("new password"))
        access_queries.bump_auth_generation(conn)

    assert checker.principal_for(principal) == principal

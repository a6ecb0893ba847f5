"""Checking a username and password against the users table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tidegate.auth.credentials import CredentialChecker
from tidegate.auth.passwords import hash_password
from tidegate.auth.principals import Principal
from tidegate.db import Database
from tidegate.db import users as user_queries
from tidegate.errors import Unauthorized

# Stored hashes carry their own argon2 parameters: cheap ones keep these tests fast, except
# for the one user whose hash is made exactly as production makes it.
_quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def production_hash() -> str:
    return hash_password("real password")


@pytest.fixture
def checker(tmp_path: Path, production_hash: str) -> Iterator[CredentialChecker]:
    db = Database(f"sqlite:///{tmp_path / 'tidegate.db'}")
    db.migrate()
    with db.transaction() as conn:
        user_queries.create(conn, "admin", _quick.hash("admin password"), is_admin=True)
        user_queries.create(conn, "dev", _quick.hash("dev password"), is_admin=False)
        user_queries.create(conn, "real", production_hash, is_admin=False)
    yield CredentialChecker(db)
    db.dispose()


def test_right_password_gives_the_principal(checker: CredentialChecker) -> None:
    assert checker.authenticate("admin", "admin password") == Principal("user", "admin", True)
    assert checker.authenticate("dev", "dev password") == Principal("user", "dev", False)
    # a second login (served from the verified-credential cache) is the same
    assert checker.authenticate("dev", "dev password") == Principal("user", "dev", False)


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


def test_principal_for_a_username(checker: CredentialChecker) -> None:
    assert checker.principal_for("admin") == Principal("user", "admin", True)
    assert checker.principal_for("dev") == Principal("user", "dev", False)
    assert checker.principal_for("nobody") is None

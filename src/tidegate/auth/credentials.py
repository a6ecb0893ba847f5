"""Checking a username and password against the database."""

from __future__ import annotations

from tidegate.auth.passwords import VerifiedCredentialCache, verify_password
from tidegate.auth.principals import Principal
from tidegate.db import Database
from tidegate.db import users as user_queries
from tidegate.errors import Unauthorized


class CredentialChecker:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache = VerifiedCredentialCache()

    def principal_for(self, username: str) -> Principal | None:
        with self._db.read() as conn:
            user = user_queries.get_by_username(conn, username)
        if user is None:
            return None
        return Principal("user", user.username, is_admin=user.is_admin)

    def authenticate(self, username: str, password: str) -> Principal:
        """Blocking (argon2). Raises Unauthorized with one message for every failure."""
        with self._db.read() as conn:
            user = user_queries.get_by_username(conn, username)
        if user is None:
            raise Unauthorized("invalid username or password")
        if not self._cache.hit(username, password):
            if not verify_password(user.password_hash, password):
                raise Unauthorized("invalid username or password")
            self._cache.remember(username, password)
        return Principal("user", user.username, is_admin=user.is_admin)

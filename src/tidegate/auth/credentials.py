"""Checking a username and password against the database."""

from __future__ import annotations

import os
import threading

from tidegate.auth.passwords import VerifiedCredentialCache, hash_password, verify_password
from tidegate.auth.principals import Principal
from tidegate.db import Database
from tidegate.db import users as user_queries
from tidegate.errors import Unauthorized

# argon2 is deliberately expensive (~64 MiB and tens of ms per check): never run more checks
# at once than there are cores, and never check the same credentials twice concurrently.
_ARGON2_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
_DUMMY_HASH = hash_password("not a real password")


class CredentialChecker:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: VerifiedCredentialCache[Principal] = VerifiedCredentialCache()
        self._inflight: dict[bytes, threading.Lock] = {}
        self._inflight_guard = threading.Lock()

    def _verify_once(self, password_hash: str, password: str, principal: Principal) -> bool:
        """Single-flight: concurrent requests with the same credentials share one check."""
        key = self._cache.fingerprint(principal.name, password)
        with self._inflight_guard:
            lock = self._inflight.setdefault(key, threading.Lock())
        with lock:
            ok = self._cache.get(principal.name, password) is not None
            if not ok:
                with _ARGON2_SLOTS:
                    ok = verify_password(password_hash, password)
                if ok:
                    self._cache.remember(principal.name, password, principal)
        with self._inflight_guard:
            self._inflight.pop(key, None)
        return ok

    def principal_for(self, username: str) -> Principal | None:
        with self._db.read() as conn:
            user = user_queries.get_by_username(conn, username)
        if user is None:
            return None
        return Principal("user", user.username, is_admin=user.is_admin)

    def recently_verified(self, username: str, password: str) -> Principal | None:
        """Non-blocking: the principal of credentials verified in the last minute, if any.
        (A removed user or a changed password takes effect within that minute.)"""
        return self._cache.get(username, password)

    def authenticate(self, username: str, password: str) -> Principal:
        """Blocking (argon2). Raises Unauthorized with one message for every failure."""
        cached = self._cache.get(username, password)
        if cached is not None:
            return cached
        with self._db.read() as conn:
            user = user_queries.get_by_username(conn, username)
        if user is None:
            with _ARGON2_SLOTS:  # same cost as a wrong password: no user enumeration by timing
                verify_password(_DUMMY_HASH, password)
            raise Unauthorized("invalid username or password")
        principal = Principal("user", user.username, is_admin=user.is_admin)
        if not self._verify_once(user.password_hash, password, principal):
            raise Unauthorized("invalid username or password")
        return principal

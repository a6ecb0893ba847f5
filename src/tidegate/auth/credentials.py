"""Checking credentials: a username with a password, or with an access token.

Decisions come from the identity snapshot (who exists, enabled, which tokens are active), so a
disabled user, a changed password or a revoked token takes effect at once. argon2 runs only
when the credentials were not verified in the last minute against the same stored hash.
"""

from __future__ import annotations

import os
import threading

from tidegate.auth import access_tokens
from tidegate.auth.identity import IdentityState
from tidegate.auth.passwords import VerifiedCredentialCache, hash_password, verify_password
from tidegate.auth.principals import Principal
from tidegate.auth.snapshot import IdentitySnapshot
from tidegate.errors import Unauthorized

# argon2 is deliberately expensive (~64 MiB and tens of ms per check): never run more checks
# at once than there are cores, and never check the same credentials twice concurrently.
_ARGON2_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
_DUMMY_HASH = hash_password("not a real password")
_INVALID = "invalid username or password"


class CredentialChecker:
    def __init__(self, state: IdentityState) -> None:
        self.state = state
        # value: the stored hash the credentials were verified against
        self._cache: VerifiedCredentialCache[str] = VerifiedCredentialCache()
        self._inflight: dict[bytes, threading.Lock] = {}
        self._inflight_guard = threading.Lock()

    def _verify_once(self, username: str, stored_hash: str, secret: str) -> bool:
        """Single-flight: concurrent requests with the same credentials share one check."""
        key = self._cache.fingerprint(username, secret)
        with self._inflight_guard:
            lock = self._inflight.setdefault(key, threading.Lock())
        with lock:
            ok = self._cache.get(username, secret) == stored_hash
            if not ok:
                with _ARGON2_SLOTS:
                    ok = verify_password(stored_hash, secret)
                if ok:
                    self._cache.remember(username, secret, stored_hash)
        with self._inflight_guard:
            self._inflight.pop(key, None)
        return ok

    def _stored(
        self, snapshot: IdentitySnapshot, username: str, password: str
    ) -> tuple[str, Principal, str] | None:
        """The stored hash, the principal it proves and the secret to verify against it; or
        None when these credentials cannot be right whatever the secret."""
        entry = snapshot.entry(username)
        if entry is None or entry.disabled:
            return None
        if access_tokens.looks_like_token(password):
            parts = access_tokens.parse(password)
            if parts is None or not snapshot.token_active(parts.id, entry):
                return None
            return snapshot.tokens[parts.id].secret_hash, entry.principal(parts.id), parts.secret
        if entry.password_hash is None:  # service accounts sign in with tokens only
            return None
        return entry.password_hash, entry.principal(by_password=True), password

    def principal_for_token(self, token: str) -> tuple[str, str] | None:
        """(username, token) for a bare access token (``Authorization: Bearer tdg_...``)."""
        parts = access_tokens.parse(token)
        if parts is None:
            return None
        snapshot = self.state.current()
        entry = snapshot.tokens.get(parts.id)
        owner = snapshot.entry_by_id(entry.user_id) if entry else None
        return (owner.name, token) if owner else None

    def recently_verified(self, username: str, password: str) -> Principal | None:
        """Non-blocking: the principal, if these credentials were verified in the last minute
        against the hash that is still current."""
        stored = self._stored(self.state.current(), username, password)
        if stored is None or self._cache.get(username, stored[2]) != stored[0]:
            return None
        return stored[1]

    def authenticate(self, username: str, password: str) -> Principal:
        """Blocking (argon2). Raises Unauthorized with one message for every failure."""
        stored = self._stored(self.state.current(), username, password)
        if stored is None:
            with _ARGON2_SLOTS:  # same cost as a wrong password: no user enumeration by timing
                verify_password(_DUMMY_HASH, password)
            raise Unauthorized(_INVALID)
        if not self._verify_once(username, stored[0], stored[2]):
            raise Unauthorized(_INVALID)
        return stored[1]

    def principal_for(self, principal: Principal) -> Principal | None:
        """The live version of a principal named by a token; None when it is no longer valid
        (deleted, disabled, or its access token revoked or expired)."""
        if principal.is_anonymous:
            return principal
        entry = self.state.current().current(principal)
        if entry is None:
            return None
        return entry.principal(principal.token_id, principal.password_mark is not None)

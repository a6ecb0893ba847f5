"""Password hashing with argon2id, and a short-lived cache of verified credentials.

The cache keeps Basic authentication on ``/v2`` from paying argon2's deliberate cost on every
request. It stores only a keyed hash of the credentials, never the password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import time
from typing import Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
T = TypeVar("T")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_ALPHABET = string.ascii_letters + string.digits


def generate_password() -> str:
    """24 letters and digits (~143 bits): nothing a shell or a CLI flag parser trips over."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(24))


class VerifiedCredentialCache(Generic[T]):
    """Credentials verified recently, with what they resolved to (e.g. the principal)."""

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 10_000) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[bytes, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def fingerprint(self, username: str, password: str) -> bytes:
        message = username.encode() + b"\0" + password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, username: str, password: str) -> T | None:
        key = self.fingerprint(username, password)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def remember(self, username: str, password: str, value: T) -> None:
        key = self.fingerprint(username, password)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, value)

"""Slowing down password guessing: failed credential checks counted per client address.

After ``limit`` failures within ``window`` seconds, every credential check from that address is
refused (``TooManyRequests`` with a retry delay) until the oldest counted failure leaves the
window — before argon2 runs, so a guessing flood costs no CPU. In memory, per process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from tidegate.errors import TooManyRequests

_MAX_ADDRESSES = 100_000


class LoginThrottle:
    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def check(self, address: str) -> None:
        """Raises TooManyRequests while ``address`` is throttled."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(address, now)
            if failures is None or len(failures) < self.limit:
                return
            retry = max(1, math.ceil(failures[-self.limit] + self.window - now))
        raise TooManyRequests(
            f"too many failed logins from {address}; try again in {retry} seconds",
            retry_after=retry,
        )

    def failed(self, address: str) -> bool:
        """Count a failure; True only for the failure that starts a throttling (concurrent
        failures that were already in flight do not announce it again)."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(address, now)
            if failures is None:
                self._make_room(now)
                failures = deque()
            else:
                del self._failures[address]  # re-inserted below: most recent last
            self._failures[address] = failures
            already = len(failures) >= self.limit
            failures.append(now)
            if len(failures) > self.limit:
                failures.popleft()
            return not already and len(failures) >= self.limit

    def _make_room(self, now: float) -> None:
        """Bounded memory: drop aged-out addresses, then the least recently failing ones —
        never everything, so rotating source addresses cannot reset an attacked address."""
        if len(self._failures) < _MAX_ADDRESSES:
            return
        for address in list(self._failures):
            self._recent(address, now)
        excess = len(self._failures) - _MAX_ADDRESSES + _MAX_ADDRESSES // 10
        for address in list(self._failures)[: max(0, excess)]:
            del self._failures[address]

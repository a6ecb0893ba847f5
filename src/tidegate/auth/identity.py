"""The identity snapshot a process holds, kept current.

Every identity or permission change bumps ``auth_state.generation`` in its own transaction. A
process compares that number with the one its snapshot was built from, and rebuilds when it
differs. Asking the database on every request would cost a query on the hot path, so:
- SQLite (every process on this host): the shared change marker (``db.generation``) changes
  after every committed write; only then is the generation row read (one indexed read);
- PostgreSQL (replicas on other hosts): the generation row is read at most once a second.
So a revocation or a removed user takes effect at once on one host, within a second across
replicas.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from tidegate.auth.snapshot import IdentitySnapshot
from tidegate.db import Database
from tidegate.db import access as access_q
from tidegate.db import users as user_q

_REMOTE_RECHECK_SECONDS = 1.0


def load_snapshot(db: Database) -> IdentitySnapshot:
    with db.read() as conn:
        generation = access_q.auth_generation(conn)
        return IdentitySnapshot.build(
            generation,
            user_q.list_users(conn),
            user_q.list_groups(conn),
            user_q.memberships(conn),
            access_q.active_tokens(conn, datetime.now(UTC)),
            access_q.list_targets(conn),
            access_q.list_grants(conn),
        )


class IdentityState:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._snapshot: IdentitySnapshot | None = None
        self._marker: bytes | None = None
        self._checked_at = 0.0

    def invalidate(self) -> None:
        """This process changed identity data: rebuild on next use."""
        self._snapshot = None

    def current(self) -> IdentitySnapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._fresh(snapshot):
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and self._fresh(snapshot):
                return snapshot
            marker = self._db.generation.read() if self._db.generation is not None else None
            if snapshot is not None:
                with self._db.read() as conn:
                    generation = access_q.auth_generation(conn)
                if generation == snapshot.generation:
                    self._marker, self._checked_at = marker, time.monotonic()
                    return snapshot
            snapshot = load_snapshot(self._db)
            self._snapshot, self._marker, self._checked_at = snapshot, marker, time.monotonic()
            return snapshot

    def _fresh(self, snapshot: IdentitySnapshot) -> bool:
        generation = self._db.generation
        if generation is not None:
            return generation.read() == self._marker
        return time.monotonic() - self._checked_at < _REMOTE_RECHECK_SECONDS

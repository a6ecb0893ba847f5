"""Hot-path reads with plain SQL on a raw DB-API connection per thread, and a cache.

A manifest or blob GET is one indexed lookup; SQLAlchemy's connection checkout and statement
handling cost 10-50x the query itself on this kind of machine (see docs/benchmarks.md). These
few read-only statements therefore bypass it. Each thread keeps one connection in autocommit
mode, so every statement reads one consistent, committed snapshot.

With a ``Generation`` (SQLite: every process is on this host) found rows are also cached until
the next committed write anywhere: even a fast SQLite read releases the GIL, and under load that
hand-off doubled the CPU a manifest GET costs. Only found rows are cached, never misses.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from tidegate.db.generation import Generation

_RESOLVE_TAG = (
    "SELECT m.digest, m.media_type, c.content FROM tags t"
    " JOIN manifests m ON m.repository_id = t.repository_id AND m.image = t.image"
    " AND m.digest = t.digest"
    " JOIN manifest_contents c ON c.digest = m.digest"
    " WHERE t.repository_id = ? AND t.image = ? AND t.name = ?"
)
_RESOLVE_DIGEST = (
    "SELECT m.digest, m.media_type, c.content FROM manifests m"
    " JOIN manifest_contents c ON c.digest = m.digest"
    " WHERE m.repository_id = ? AND m.image = ? AND m.digest = ?"
)
_LINKED_BLOB_SIZE = (
    "SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest"
    " WHERE l.repository_id = ? AND l.image = ? AND l.digest = ?"
)


_CACHE_BYTES = 8 * 1024 * 1024


class FastReader:
    """``engine`` must not pool (NullPool): each thread keeps its own connection checked out
    for its lifetime, and a pooled one would be handed to another thread meanwhile."""

    def __init__(self, engine: Engine, generation: Generation | None) -> None:
        self._engine = engine
        self._local = threading.local()
        self._postgres = engine.dialect.name == "postgresql"
        self._generation = generation
        self._seen = b""
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._cached_bytes = 0

    def _cached(self, key: tuple[Any, ...]) -> Any:
        if self._generation is None:
            return None
        current = self._generation.read()
        if current != self._seen:
            self._cache = {}
            self._cached_bytes = 0
            self._seen = current
            return None
        return self._cache.get(key)

    def _remember(self, key: tuple[Any, ...], value: Any, size: int, seen: bytes) -> None:
        if self._generation is None or self._generation.read() != seen:
            return  # a write committed while we read: do not keep what we read
        if self._cached_bytes + size > _CACHE_BYTES:
            self._cache = {}
            self._cached_bytes = 0
        self._cache[key] = value
        self._cached_bytes += size + 200

    def _connection(self) -> Any:
        conn: Any = getattr(self._local, "conn", None)
        if conn is None:
            handle = self._engine.raw_connection()
            self._local.handle = handle  # keep it checked out: this thread's alone
            conn = handle.driver_connection
            if self._postgres:
                conn.autocommit = True
            else:
                conn.isolation_level = None
            self._local.conn = conn
        return conn

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        if self._postgres:
            sql = sql.replace("?", "%s")
        conn = self._connection()
        try:
            cursor = conn.execute(sql, params)
            return cursor.fetchone()
        except Exception:
            self._local.conn = self._local.handle = None  # replaced on the next call
            raise

    def resolve_manifest(
        self, repository_id: int, image: str, reference: str, by_digest: bool
    ) -> tuple[str, str, bytes] | None:
        key = ("m", repository_id, image, reference, by_digest)
        found: tuple[str, str, bytes] | None = self._cached(key)
        if found is not None:
            return found
        seen = self._seen
        row = self._one(
            _RESOLVE_DIGEST if by_digest else _RESOLVE_TAG, (repository_id, image, reference)
        )
        if row is None:
            return None
        found = (row[0], row[1], bytes(row[2]))
        self._remember(key, found, len(found[2]), seen)
        return found

    def linked_blob_size(self, repository_id: int, image: str, digest: str) -> int | None:
        key = ("b", repository_id, image, digest)
        size: int | None = self._cached(key)
        if size is not None:
            return size
        seen = self._seen
        row = self._one(_LINKED_BLOB_SIZE, (repository_id, image, digest))
        if row is None:
            return None
        self._remember(key, int(row[0]), 0, seen)
        return int(row[0])

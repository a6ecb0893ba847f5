"""Hot-path reads with plain SQL on a raw DB-API connection per thread.

A manifest or blob GET is one indexed lookup; SQLAlchemy's connection checkout and statement
handling cost 10-50x the query itself on this kind of machine (see docs/benchmarks.md). These
few read-only statements therefore bypass it. Each thread keeps one connection in autocommit
mode, so every statement reads one consistent, committed snapshot.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

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


class FastReader:
    """``engine`` must not pool (NullPool): each thread keeps its own connection checked out
    for its lifetime, and a pooled one would be handed to another thread meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._postgres = engine.dialect.name == "postgresql"

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
        row = self._one(
            _RESOLVE_DIGEST if by_digest else _RESOLVE_TAG, (repository_id, image, reference)
        )
        return (row[0], row[1], bytes(row[2])) if row else None

    def linked_blob_size(self, repository_id: int, image: str, digest: str) -> int | None:
        row = self._one(_LINKED_BLOB_SIZE, (repository_id, image, digest))
        return int(row[0]) if row else None

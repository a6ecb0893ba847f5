"""Queries on the repositories aggregate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tidegate.db.records import RepositoryRecord
from tidegate.db.tables import repositories

_COLUMNS = (
    repositories.c.id,
    repositories.c.key,
    repositories.c.kind,
    repositories.c.stage,
    repositories.c.options,
)


def get_by_key(conn: Connection, key: str) -> RepositoryRecord | None:
    row = conn.execute(select(*_COLUMNS).where(repositories.c.key == key)).first()
    return RepositoryRecord(*row) if row else None


def list_all(conn: Connection) -> list[RepositoryRecord]:
    rows = conn.execute(select(*_COLUMNS).order_by(repositories.c.key)).all()
    return [RepositoryRecord(*row) for row in rows]


def create(
    conn: Connection, key: str, kind: str, stage: str | None, options: dict[str, Any]
) -> RepositoryRecord:
    result = conn.execute(
        insert(repositories).values(
            key=key, kind=kind, stage=stage, options=options, created_at=datetime.now(UTC)
        )
    )
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return RepositoryRecord(int(new_id), key, kind, stage, options)


def count(conn: Connection) -> int:
    return len(conn.execute(select(repositories.c.id)).all())


def set_options(conn: Connection, key: str, options: dict[str, Any]) -> None:
    conn.execute(update(repositories).where(repositories.c.key == key).values(options=options))

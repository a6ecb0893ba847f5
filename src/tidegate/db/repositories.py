"""Queries on the repositories aggregate."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update

from tidegate.db.records import RepositoryRecord
from tidegate.db.tables import manifests, repositories, server_secrets

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


def update_row(conn: Connection, key: str, stage: str | None, options: dict[str, Any]) -> None:
    conn.execute(
        update(repositories).where(repositories.c.key == key).values(stage=stage, options=options)
    )


def delete_row(conn: Connection, key: str) -> None:
    """Removes the repository; its manifests, tags, blob links and uploads go with it (the
    foreign keys cascade). Blob files stay for garbage collection."""
    conn.execute(delete(server_secrets).where(server_secrets.c.name == _password_name(key)))
    conn.execute(delete(repositories).where(repositories.c.key == key))


def holds_images(conn: Connection, repository_id: int) -> bool:
    return bool(
        conn.execute(select(exists().where(manifests.c.repository_id == repository_id))).scalar()
    )


def _password_name(key: str) -> str:
    # server_secrets names are at most 64 characters; keys are too
    return "upstream_password:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def upstream_password(conn: Connection, key: str) -> str | None:
    """A remote repository's upstream password: kept apart from ``options`` (which the API
    shows), in ``server_secrets``; never returned by the management API."""
    value = conn.execute(
        select(server_secrets.c.value).where(server_secrets.c.name == _password_name(key))
    ).scalar()
    return None if value is None else str(value)


def set_upstream_password(conn: Connection, key: str, password: str | None) -> None:
    conn.execute(delete(server_secrets).where(server_secrets.c.name == _password_name(key)))
    if password is not None:
        conn.execute(insert(server_secrets).values(name=_password_name(key), value=password))

"""Queries on the repositories aggregate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update

from tidegate.db.records import RepositoryRecord
from tidegate.db.tables import manifests, repositories, repository_secrets

UPSTREAM_PASSWORD = "upstream_password"  # the name in repository_secrets

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
    conn.execute(delete(repositories).where(repositories.c.key == key))


def holds_images(conn: Connection, repository_id: int) -> bool:
    return bool(
        conn.execute(select(exists().where(manifests.c.repository_id == repository_id))).scalar()
    )


def upstream_password(conn: Connection, key: str) -> str | None:
    """A remote repository's upstream password: kept apart from ``options`` (which the API
    shows), in ``repository_secrets``; never returned by the management API."""
    value = conn.execute(
        select(repository_secrets.c.value)
        .join(repositories, repositories.c.id == repository_secrets.c.repository_id)
        .where(repositories.c.key == key, repository_secrets.c.name == UPSTREAM_PASSWORD)
    ).scalar()
    return None if value is None else str(value)


def set_upstream_password(conn: Connection, key: str, password: str | None) -> None:
    """Store (None: remove) the password, and stamp ``options.upstream_password_set_at`` so
    every process rebuilds its upstream client (they key it on the options)."""
    record = get_by_key(conn, key)
    assert record is not None
    conn.execute(
        delete(repository_secrets).where(
            repository_secrets.c.repository_id == record.id,
            repository_secrets.c.name == UPSTREAM_PASSWORD,
        )
    )
    options = {k: v for k, v in record.options.items() if k != "upstream_password_set_at"}
    if password is not None:
        conn.execute(
            insert(repository_secrets).values(
                repository_id=record.id, name=UPSTREAM_PASSWORD, value=password
            )
        )
        options["upstream_password_set_at"] = datetime.now(UTC).isoformat(timespec="microseconds")
    set_options(conn, key, options)

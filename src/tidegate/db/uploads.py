"""Queries on upload sessions (their bytes live in the blob store)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select, update

from tidegate.db.records import UploadRecord
from tidegate.db.tables import uploads


def create(conn: Connection, upload_id: str, repository_id: int, image: str) -> None:
    now = datetime.now(UTC)
    conn.execute(
        insert(uploads).values(
            id=upload_id, repository_id=repository_id, image=image, created_at=now, updated_at=now
        )
    )


def get(conn: Connection, upload_id: str) -> UploadRecord | None:
    row = conn.execute(
        select(
            uploads.c.id,
            uploads.c.repository_id,
            uploads.c.image,
            uploads.c.created_at,
            uploads.c.updated_at,
        ).where(uploads.c.id == upload_id)
    ).first()
    return UploadRecord(*row) if row else None


def touch(conn: Connection, upload_id: str) -> None:
    conn.execute(
        update(uploads).where(uploads.c.id == upload_id).values(updated_at=datetime.now(UTC))
    )


def remove(conn: Connection, upload_id: str) -> bool:
    return conn.execute(delete(uploads).where(uploads.c.id == upload_id)).rowcount > 0

"""Queries on users and server secrets."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from tidegate.db.records import UserRecord
from tidegate.db.tables import server_secrets, users


def get_by_username(conn: Connection, username: str) -> UserRecord | None:
    row = conn.execute(
        select(users.c.id, users.c.username, users.c.password_hash, users.c.is_admin).where(
            users.c.username == username
        )
    ).first()
    return UserRecord(*row) if row else None


def create(conn: Connection, username: str, password_hash: str, is_admin: bool) -> int:
    result = conn.execute(
        insert(users).values(
            username=username,
            password_hash=password_hash,
            is_admin=is_admin,
            created_at=datetime.now(UTC),
        )
    )
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def get_secret(conn: Connection, name: str) -> str | None:
    return conn.execute(
        select(server_secrets.c.value).where(server_secrets.c.name == name)
    ).scalar()


def set_secret(conn: Connection, name: str, value: str) -> None:
    conn.execute(insert(server_secrets).values(name=name, value=value))

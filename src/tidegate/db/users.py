"""Queries on users, service accounts, groups, memberships and server secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tidegate.db.records import GroupRecord, UserRecord
from tidegate.db.tables import group_members, groups, server_secrets, users

_USER_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.password_hash,
    users.c.is_admin,
    users.c.kind,
    users.c.disabled,
    users.c.description,
    users.c.created_at,
    users.c.email,
)


def _user(row: Sequence[Any]) -> UserRecord:
    return UserRecord(*row)


def get_by_username(conn: Connection, username: str) -> UserRecord | None:
    row = conn.execute(select(*_USER_COLUMNS).where(users.c.username == username)).first()
    return _user(row) if row else None


def list_users(conn: Connection, kind: str | None = None) -> list[UserRecord]:
    query = select(*_USER_COLUMNS).order_by(users.c.username)
    if kind is not None:
        query = query.where(users.c.kind == kind)
    return [_user(row) for row in conn.execute(query)]


def create(
    conn: Connection,
    username: str,
    password_hash: str | None,
    is_admin: bool,
    kind: str = "user",
    description: str | None = None,
    email: str | None = None,
) -> int:
    extra = {"email": email} if email is not None else {}
    result = conn.execute(
        insert(users).values(
            **extra,
            username=username,
            password_hash=password_hash,
            is_admin=is_admin,
            kind=kind,
            disabled=False,
            description=description,
            created_at=datetime.now(UTC),
        )
    )
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def update_user(conn: Connection, user_id: int, **values: object) -> None:
    """Set columns (``password_hash``, ``is_admin``, ``disabled``, ``description``)."""
    if values:
        conn.execute(update(users).where(users.c.id == user_id).values(**values))


def delete_user(conn: Connection, user_id: int) -> None:
    conn.execute(delete(users).where(users.c.id == user_id))


def count_admins(conn: Connection) -> int:
    """Enabled admins. Locks their rows (PostgreSQL), so two transactions that each demote
    one of the last two admins cannot both see two: the second waits and then sees one."""
    rows = conn.execute(
        select(users.c.id)
        .where(users.c.is_admin.is_(True), users.c.disabled.is_(False))
        .with_for_update()
    )
    return len(rows.all())


# --- groups ----------------------------------------------------------------------------------


def get_group(conn: Connection, name: str) -> GroupRecord | None:
    row = conn.execute(
        select(groups.c.id, groups.c.name, groups.c.description, groups.c.created_at).where(
            groups.c.name == name
        )
    ).first()
    return GroupRecord(*row) if row else None


def list_groups(conn: Connection) -> list[GroupRecord]:
    rows = conn.execute(
        select(groups.c.id, groups.c.name, groups.c.description, groups.c.created_at).order_by(
            groups.c.name
        )
    )
    return [GroupRecord(*row) for row in rows]


def create_group(conn: Connection, name: str, description: str | None) -> int:
    result = conn.execute(
        insert(groups).values(name=name, description=description, created_at=datetime.now(UTC))
    )
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def delete_group(conn: Connection, group_id: int) -> None:
    conn.execute(delete(groups).where(groups.c.id == group_id))


def add_member(conn: Connection, group_id: int, user_id: int) -> bool:
    """False when already a member."""
    exists = conn.execute(
        select(group_members.c.user_id).where(
            group_members.c.group_id == group_id, group_members.c.user_id == user_id
        )
    ).first()
    if exists:
        return False
    conn.execute(insert(group_members).values(group_id=group_id, user_id=user_id))
    return True


def remove_member(conn: Connection, group_id: int, user_id: int) -> bool:
    result = conn.execute(
        delete(group_members).where(
            group_members.c.group_id == group_id, group_members.c.user_id == user_id
        )
    )
    return bool(result.rowcount)


def set_memberships(conn: Connection, user_id: int, group_ids: list[int]) -> None:
    conn.execute(delete(group_members).where(group_members.c.user_id == user_id))
    if group_ids:
        conn.execute(
            insert(group_members), [{"group_id": g, "user_id": user_id} for g in group_ids]
        )


def memberships(conn: Connection) -> list[tuple[int, int]]:
    """Every (group_id, user_id) pair."""
    rows = conn.execute(select(group_members.c.group_id, group_members.c.user_id))
    return [(int(g), int(u)) for g, u in rows]


# --- server secrets --------------------------------------------------------------------------


def get_secret(conn: Connection, name: str) -> str | None:
    return conn.execute(
        select(server_secrets.c.value).where(server_secrets.c.name == name)
    ).scalar()


def set_secret(conn: Connection, name: str, value: str) -> None:
    conn.execute(insert(server_secrets).values(name=name, value=value))

"""Queries on access tokens, permission targets and their grants, and the identity generation
(the marker every process compares to know its identity snapshot is current)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tidegate.db.records import GrantRecord, TargetRecord, TokenRecord
from tidegate.db.tables import access_tokens, auth_state, permission_grants, permission_targets

_TOKEN_COLUMNS = (
    access_tokens.c.id,
    access_tokens.c.user_id,
    access_tokens.c.name,
    access_tokens.c.secret_hash,
    access_tokens.c.created_at,
    access_tokens.c.expires_at,
    access_tokens.c.revoked_at,
    access_tokens.c.parent_id,
    access_tokens.c.password_mark,
)


# --- identity generation ---------------------------------------------------------------------


def auth_generation(conn: Connection) -> int:
    return int(
        conn.execute(select(auth_state.c.generation).where(auth_state.c.id == 1)).scalar_one()
    )


def bump_auth_generation(conn: Connection) -> None:
    """Call in the transaction of every identity or permission change."""
    conn.execute(
        update(auth_state)
        .where(auth_state.c.id == 1)
        .values(generation=auth_state.c.generation + 1)
    )


# --- access tokens ---------------------------------------------------------------------------


def create_token(
    conn: Connection,
    token_id: str,
    user_id: int,
    name: str,
    secret_hash: str,
    created_at: datetime,
    expires_at: datetime,
    parent_id: str | None = None,
    password_mark: str | None = None,
) -> None:
    conn.execute(
        insert(access_tokens).values(
            id=token_id,
            user_id=user_id,
            name=name,
            secret_hash=secret_hash,
            created_at=created_at,
            expires_at=expires_at,
            parent_id=parent_id,
            password_mark=password_mark,
        )
    )


def get_token(conn: Connection, token_id: str) -> TokenRecord | None:
    row = conn.execute(select(*_TOKEN_COLUMNS).where(access_tokens.c.id == token_id)).first()
    return TokenRecord(*row) if row else None


def list_tokens(conn: Connection, user_id: int | None = None) -> list[TokenRecord]:
    query = select(*_TOKEN_COLUMNS).order_by(access_tokens.c.created_at, access_tokens.c.id)
    if user_id is not None:
        query = query.where(access_tokens.c.user_id == user_id)
    return [TokenRecord(*row) for row in conn.execute(query)]


def revoke_token(conn: Connection, token_id: str, at: datetime) -> bool:
    result = conn.execute(
        update(access_tokens)
        .where(access_tokens.c.id == token_id, access_tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return bool(result.rowcount)


def descendants(conn: Connection, token_id: str) -> list[str]:
    """Tokens minted from ``token_id`` (and from those, and so on)."""
    found: list[str] = []
    frontier = [token_id]
    while frontier:
        children = list(
            conn.execute(
                select(access_tokens.c.id).where(access_tokens.c.parent_id.in_(frontier))
            ).scalars()
        )
        children = [c for c in children if c not in found]
        found.extend(children)
        frontier = children
    return found


def active_tokens(conn: Connection, now: datetime) -> list[TokenRecord]:
    query = select(*_TOKEN_COLUMNS).where(
        access_tokens.c.revoked_at.is_(None), access_tokens.c.expires_at > now
    )
    return [TokenRecord(*row) for row in conn.execute(query)]


# --- permission targets ----------------------------------------------------------------------


def _target(row: Sequence[Any]) -> TargetRecord:
    tid, name, repos, include, exclude = row
    return TargetRecord(int(tid), str(name), tuple(repos), tuple(include), tuple(exclude))


_TARGET_COLUMNS = (
    permission_targets.c.id,
    permission_targets.c.name,
    permission_targets.c.repositories,
    permission_targets.c.include,
    permission_targets.c.exclude,
)


def list_targets(conn: Connection) -> list[TargetRecord]:
    rows = conn.execute(select(*_TARGET_COLUMNS).order_by(permission_targets.c.name))
    return [_target(row) for row in rows]


def get_target(conn: Connection, name: str) -> TargetRecord | None:
    row = conn.execute(select(*_TARGET_COLUMNS).where(permission_targets.c.name == name)).first()
    return _target(row) if row else None


def create_target(
    conn: Connection,
    name: str,
    repositories: list[str],
    include: list[str],
    exclude: list[str],
    now: datetime,
) -> int:
    result = conn.execute(
        insert(permission_targets).values(
            name=name,
            repositories=repositories,
            include=include,
            exclude=exclude,
            created_at=now,
            updated_at=now,
        )
    )
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def update_target(
    conn: Connection,
    target_id: int,
    repositories: list[str],
    include: list[str],
    exclude: list[str],
    now: datetime,
) -> None:
    conn.execute(
        update(permission_targets)
        .where(permission_targets.c.id == target_id)
        .values(repositories=repositories, include=include, exclude=exclude, updated_at=now)
    )


def delete_target(conn: Connection, target_id: int) -> None:
    conn.execute(delete(permission_targets).where(permission_targets.c.id == target_id))


def replace_grants(conn: Connection, target_id: int, grants: list[GrantRecord]) -> None:
    conn.execute(delete(permission_grants).where(permission_grants.c.target_id == target_id))
    if grants:
        conn.execute(
            insert(permission_grants),
            [
                {
                    "target_id": target_id,
                    "user_id": g.user_id,
                    "group_id": g.group_id,
                    "actions": list(g.actions),
                }
                for g in grants
            ],
        )


def list_grants(conn: Connection) -> list[GrantRecord]:
    rows = conn.execute(
        select(
            permission_grants.c.target_id,
            permission_grants.c.user_id,
            permission_grants.c.group_id,
            permission_grants.c.actions,
        ).order_by(permission_grants.c.id)
    )
    return [GrantRecord(int(t), u, g, tuple(a)) for t, u, g, a in rows]

"""Queries on promotion records and the events outbox. No function here commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from tidegate.db.tables import events, manifest_references, manifests, promotions, repositories

_COLUMNS = (
    promotions.c.id,
    promotions.c.created_at,
    promotions.c.actor,
    promotions.c.source,
    promotions.c.image,
    promotions.c.target,
    promotions.c.target_image,
    promotions.c.digest,
    promotions.c.tag,
    promotions.c.target_tag,
    promotions.c.mode,
    promotions.c.outcome,
    promotions.c.evaluation,
    promotions.c.properties,
    promotions.c.counts,
)


def record(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(promotions).values(**values))
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def lineage(
    conn: Connection,
    digest: str | None,
    repo: str | None,
    image: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    query = select(*_COLUMNS).order_by(promotions.c.id)
    if digest:
        query = query.where(promotions.c.digest == digest)
    if repo:
        query = query.where(or_(promotions.c.source == repo, promotions.c.target == repo))
    if image:
        query = query.where(or_(promotions.c.image == image, promotions.c.target_image == image))
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]


def publish(conn: Connection, type_: str, subject: str, data: dict[str, Any]) -> None:
    """Write an event to the outbox, in the caller's transaction."""
    conn.execute(
        insert(events).values(
            created_at=datetime.now(UTC), type=type_, subject=subject[:512], data=data
        )
    )


def list_events(conn: Connection, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(events.c.id, events.c.created_at, events.c.type, events.c.subject, events.c.data)
        .where(events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]


def references(conn: Connection, manifest_id: int) -> list[tuple[str, str]]:
    """(digest, kind) of what a manifest points at: ``blob`` (config, layers) or ``manifest``."""
    rows = conn.execute(
        select(manifest_references.c.digest, manifest_references.c.kind)
        .where(manifest_references.c.manifest_id == manifest_id)
        .order_by(manifest_references.c.kind, manifest_references.c.digest)
    )
    return [(str(d), str(k)) for d, k in rows]


def lock_repository(conn: Connection, repository_id: int) -> None:
    """Serialise arrivals into one repository (PostgreSQL: a row lock until commit; SQLite
    transactions are already serialised by ``BEGIN IMMEDIATE``)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(repositories.c.id).where(repositories.c.id == repository_id).with_for_update()
        )


def pushed_by(conn: Connection, manifest_ids: list[int]) -> dict[int, str | None]:
    """Who pushed each manifest row (a promoted copy keeps its source's pusher)."""
    result: dict[int, str | None] = {}
    for start in range(0, len(manifest_ids), 500):
        rows = conn.execute(
            select(manifests.c.id, manifests.c.pushed_by).where(
                manifests.c.id.in_(manifest_ids[start : start + 500])
            )
        )
        result.update({int(i): p for i, p in rows})
    return result

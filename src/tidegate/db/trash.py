"""Queries on the trash: deleted manifests and tags, kept restorable until they expire.

A manifest entry (``kind`` "manifest") keeps the row's columns, its tags, its properties and
(in ``trash_references``) its references; a tag entry (``kind`` "tag") keeps the one tag and
the digest it named. ``manifest_contents`` is not touched: its row stays while an entry (or a
manifest) names the digest. No function here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from tidegate.db import content as content_q
from tidegate.db import properties as props_q
from tidegate.db.cleanup import aware
from tidegate.db.promotions import references
from tidegate.db.tables import manifest_references, manifests, trash, trash_references

MANIFEST = "manifest"
TAG = "tag"


@dataclass(frozen=True, slots=True)
class TrashRecord:
    id: int
    kind: str
    repository_id: int
    image: str
    digest: str
    media_type: str | None
    artifact_type: str | None
    subject: str | None
    size: int | None
    annotations: dict[str, str] | None
    pushed_by: str | None
    created_at: datetime | None
    tags: list[str]
    properties: dict[str, list[str]]
    deleted_at: datetime
    expires_at: datetime
    deleted_by: str
    reason: str | None
    plan_id: str | None


_COLUMNS = tuple(trash.c[name] for name in TrashRecord.__slots__)


def trash_manifest(
    conn: Connection,
    *,
    repository_id: int,
    image: str,
    digest: str,
    deleted_by: str,
    reason: str | None,
    plan_id: str | None,
    deleted_at: datetime,
    expires_at: datetime,
) -> int | None:
    """Move a manifest (its row, tags, properties and references) into the trash; None when
    (repository, image) has no such manifest."""
    row = conn.execute(
        select(manifests).where(
            manifests.c.repository_id == repository_id,
            manifests.c.image == image,
            manifests.c.digest == digest,
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    entry_id = _insert(
        conn,
        kind=MANIFEST,
        repository_id=repository_id,
        image=image,
        digest=digest,
        media_type=m["media_type"],
        artifact_type=m["artifact_type"],
        subject=m["subject"],
        size=m["size"],
        annotations=m["annotations"],
        pushed_by=m["pushed_by"],
        created_at=m["created_at"],
        tags=sorted(content_q.list_tags_for(conn, repository_id, image, digest)),
        properties=props_q.get(conn, m["id"]),
        deleted_at=deleted_at,
        expires_at=expires_at,
        deleted_by=deleted_by[:128],
        reason=reason,
        plan_id=plan_id,
    )
    refs = references(conn, m["id"])
    if refs:
        conn.execute(
            insert(trash_references),
            [{"trash_id": entry_id, "digest": d, "kind": k} for d, k in refs],
        )
    content_q.delete_manifest(conn, repository_id, image, digest)  # properties cascade
    return entry_id


def trash_tag(
    conn: Connection,
    *,
    repository_id: int,
    image: str,
    tag: str,
    digest: str,
    deleted_by: str,
    reason: str | None,
    plan_id: str | None,
    deleted_at: datetime,
    expires_at: datetime,
) -> int:
    """Record a deleted tag (the caller deletes the ``tags`` row)."""
    return _insert(
        conn,
        kind=TAG,
        repository_id=repository_id,
        image=image,
        digest=digest,
        tags=[tag],
        properties={},
        deleted_at=deleted_at,
        expires_at=expires_at,
        deleted_by=deleted_by[:128],
        reason=reason,
        plan_id=plan_id,
    )


def _insert(conn: Connection, **values: Any) -> int:
    result = conn.execute(insert(trash).values(**values))
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def _record(row: Any) -> TrashRecord:
    values = dict(row._mapping)
    for key in ("created_at", "deleted_at", "expires_at"):
        if values[key] is not None:
            values[key] = aware(values[key])
    return TrashRecord(**values)


def get_entry(conn: Connection, entry_id: int) -> TrashRecord | None:
    row = conn.execute(select(*_COLUMNS).where(trash.c.id == entry_id)).first()
    return _record(row) if row else None


def list_entries(
    conn: Connection,
    repository_ids: Iterable[int],
    image: str | None = None,
    digest: str | None = None,
    limit: int = 100,
) -> list[TrashRecord]:
    """Newest first."""
    ids = list(repository_ids)
    if not ids:
        return []
    query = select(*_COLUMNS).where(trash.c.repository_id.in_(ids))
    if image is not None:
        query = query.where(trash.c.image == image)
    if digest is not None:
        query = query.where(trash.c.digest == digest)
    rows = conn.execute(query.order_by(trash.c.id.desc()).limit(limit))
    return [_record(r) for r in rows]


def entry_references(conn: Connection, entry_id: int) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(trash_references.c.digest, trash_references.c.kind)
        .where(trash_references.c.trash_id == entry_id)
        .order_by(trash_references.c.kind, trash_references.c.digest)
    )
    return [(str(d), str(k)) for d, k in rows]


def restore_manifest_row(conn: Connection, entry: TrashRecord, refs: list[tuple[str, str]]) -> int:
    """Recreate the manifest row of a manifest entry as it was (pusher, arrival time,
    references, properties); the caller checked that none exists."""
    result = conn.execute(
        insert(manifests).values(
            repository_id=entry.repository_id,
            image=entry.image,
            digest=entry.digest,
            media_type=entry.media_type,
            artifact_type=entry.artifact_type,
            subject=entry.subject,
            size=entry.size,
            annotations=entry.annotations,
            pushed_by=entry.pushed_by,
            created_at=entry.created_at,
        )
    )
    (manifest_id,) = result.inserted_primary_key or (None,)
    assert manifest_id is not None
    if refs:
        conn.execute(
            insert(manifest_references),
            [{"manifest_id": manifest_id, "digest": d, "kind": k} for d, k in refs],
        )
    props_q.set_keys(conn, int(manifest_id), entry.properties)
    return int(manifest_id)


def remove_entry(conn: Connection, entry_id: int) -> None:
    conn.execute(delete(trash_references).where(trash_references.c.trash_id == entry_id))
    conn.execute(delete(trash).where(trash.c.id == entry_id))


def purge_expired_trash(conn: Connection, now: datetime) -> int:
    """Forget the entries whose time is up (``expires_at <= now``); return how many. Their
    content becomes garbage: garbage collection no longer counts their references as live
    and deletes ``manifest_contents`` rows nothing names any more. Callable on its own (the
    GC run calls it first)."""
    expired = select(trash.c.id).where(trash.c.expires_at <= now)
    conn.execute(delete(trash_references).where(trash_references.c.trash_id.in_(expired)))
    result = conn.execute(delete(trash).where(trash.c.expires_at <= now))
    return int(result.rowcount or 0)

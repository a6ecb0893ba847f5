"""Queries on content a repository holds: blob links, manifests, references, tags.

Rows are keyed by (repository id, image); bytes are shared through the global ``blobs`` and
``manifest_contents`` tables. No function here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tidegate.db.records import ManifestRecord
from tidegate.db.tables import (
    blobs,
    manifest_contents,
    manifest_references,
    manifests,
    repository_blobs,
    tags,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _dialect_insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT (with ``on_conflict_do_nothing``)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(dialect)  # pragma: no cover - other dialects are not supported


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> None:
    """INSERT that does nothing when the primary key already exists."""
    conn.execute(_dialect_insert(conn, table).values(**values).on_conflict_do_nothing())


# --- blobs -------------------------------------------------------------------------------


def blob_size(conn: Connection, digest: str) -> int | None:
    return conn.execute(select(blobs.c.size).where(blobs.c.digest == digest)).scalar()


def add_blob(conn: Connection, digest: str, size: int) -> None:
    _insert_ignore(conn, blobs, {"digest": digest, "size": size, "created_at": _now()})


def link_blob(conn: Connection, repository_id: int, image: str, digest: str) -> None:
    _insert_ignore(
        conn,
        repository_blobs,
        {"repository_id": repository_id, "image": image, "digest": digest, "created_at": _now()},
    )


def linked_blob_size(conn: Connection, repository_id: int, image: str, digest: str) -> int | None:
    """Size of a blob if (repository, image) may serve it, else None."""
    return conn.execute(
        select(blobs.c.size)
        .join(repository_blobs, repository_blobs.c.digest == blobs.c.digest)
        .where(
            repository_blobs.c.repository_id == repository_id,
            repository_blobs.c.image == image,
            repository_blobs.c.digest == digest,
        )
    ).scalar()


def _present(
    conn: Connection, table: Any, repository_id: int, image: str, digests: Iterable[str]
) -> set[str]:
    """Which of ``digests`` have a row in ``table`` for (repository, image)."""
    wanted = list(set(digests))
    if not wanted:
        return set()
    rows = conn.execute(
        select(table.c.digest).where(
            table.c.repository_id == repository_id,
            table.c.image == image,
            table.c.digest.in_(wanted),
        )
    ).scalars()
    return set(rows)


def linked_blobs(
    conn: Connection, repository_id: int, image: str, digests: Iterable[str]
) -> set[str]:
    return _present(conn, repository_blobs, repository_id, image, digests)


def blob_holders(conn: Connection, digest: str, limit: int = 100) -> list[tuple[int, str]]:
    """(repository id, image) pairs that reference a blob."""
    rows = conn.execute(
        select(repository_blobs.c.repository_id, repository_blobs.c.image)
        .where(repository_blobs.c.digest == digest)
        .limit(limit)
    ).all()
    return [(int(rid), str(image)) for rid, image in rows]


def referencing_manifests(
    conn: Connection, repository_id: int, image: str, digest: str, kind: str
) -> list[str]:
    """Digests of manifests in (repository, image) that reference ``digest`` as ``kind``."""
    rows = conn.execute(
        select(manifests.c.digest)
        .join(manifest_references, manifest_references.c.manifest_id == manifests.c.id)
        .where(
            manifests.c.repository_id == repository_id,
            manifests.c.image == image,
            manifest_references.c.digest == digest,
            manifest_references.c.kind == kind,
        )
        .order_by(manifests.c.digest)
        .limit(10)
    ).scalars()
    return list(rows)


def unlink_blob(conn: Connection, repository_id: int, image: str, digest: str) -> bool:
    result = conn.execute(
        delete(repository_blobs).where(
            repository_blobs.c.repository_id == repository_id,
            repository_blobs.c.image == image,
            repository_blobs.c.digest == digest,
        )
    )
    return result.rowcount > 0


# --- manifests ---------------------------------------------------------------------------

_MANIFEST_COLUMNS = (
    manifests.c.id,
    manifests.c.repository_id,
    manifests.c.image,
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.artifact_type,
    manifests.c.subject,
    manifests.c.size,
    manifests.c.annotations,
    manifests.c.created_at,
)


def get_manifest(
    conn: Connection, repository_id: int, image: str, digest: str
) -> ManifestRecord | None:
    row = conn.execute(
        select(*_MANIFEST_COLUMNS).where(
            manifests.c.repository_id == repository_id,
            manifests.c.image == image,
            manifests.c.digest == digest,
        )
    ).first()
    return ManifestRecord(**row._mapping) if row else None


def manifest_content(conn: Connection, digest: str) -> bytes | None:
    return conn.execute(
        select(manifest_contents.c.content).where(manifest_contents.c.digest == digest)
    ).scalar()


def existing_manifests(
    conn: Connection, repository_id: int, image: str, digests: Iterable[str]
) -> set[str]:
    return _present(conn, manifests, repository_id, image, digests)


def put_manifest(
    conn: Connection,
    *,
    repository_id: int,
    image: str,
    digest: str,
    content: bytes,
    media_type: str,
    artifact_type: str | None,
    subject: str | None,
    annotations: dict[str, str] | None,
    pushed_by: str | None,
    blob_refs: Iterable[str],
    manifest_refs: Iterable[str],
) -> bool:
    """Store a manifest in (repository, image). Returns False when it was already there."""
    _insert_ignore(conn, manifest_contents, {"digest": digest, "content": content})
    if get_manifest(conn, repository_id, image, digest) is not None:
        return False
    # ON CONFLICT DO NOTHING: two transactions storing the same manifest at once (PostgreSQL
    # lets both pass the check above) end with one row, and the second learns it lost.
    values = {
        "repository_id": repository_id,
        "image": image,
        "digest": digest,
        "media_type": media_type,
        "artifact_type": artifact_type,
        "subject": subject,
        "size": len(content),
        "annotations": annotations or None,
        "pushed_by": pushed_by,
        "created_at": _now(),
    }
    result = conn.execute(
        _dialect_insert(conn, manifests)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["repository_id", "image", "digest"])
        .returning(manifests.c.id)
    )
    manifest_id = result.scalar()
    if manifest_id is None:
        return False
    refs = {(d, "blob") for d in blob_refs} | {(d, "manifest") for d in manifest_refs}
    if refs:
        conn.execute(
            insert(manifest_references),
            [{"manifest_id": manifest_id, "digest": d, "kind": k} for d, k in sorted(refs)],
        )
    return True


def delete_manifest(conn: Connection, repository_id: int, image: str, digest: str) -> bool:
    """Delete a manifest and every tag that points at it."""
    conn.execute(
        delete(tags).where(
            tags.c.repository_id == repository_id, tags.c.image == image, tags.c.digest == digest
        )
    )
    target = select(manifests.c.id).where(
        manifests.c.repository_id == repository_id,
        manifests.c.image == image,
        manifests.c.digest == digest,
    )
    conn.execute(delete(manifest_references).where(manifest_references.c.manifest_id.in_(target)))
    result = conn.execute(
        delete(manifests).where(
            manifests.c.repository_id == repository_id,
            manifests.c.image == image,
            manifests.c.digest == digest,
        )
    )
    return result.rowcount > 0


def referrers(
    conn: Connection, repository_id: int, image: str, subject: str, artifact_type: str | None
) -> list[ManifestRecord]:
    query = select(*_MANIFEST_COLUMNS).where(
        manifests.c.repository_id == repository_id,
        manifests.c.image == image,
        manifests.c.subject == subject,
    )
    if artifact_type is not None:
        query = query.where(manifests.c.artifact_type == artifact_type)
    rows = conn.execute(query.order_by(manifests.c.digest)).all()
    return [ManifestRecord(**row._mapping) for row in rows]


# --- tags --------------------------------------------------------------------------------


def tag_digest(conn: Connection, repository_id: int, image: str, tag: str) -> str | None:
    return conn.execute(
        select(tags.c.digest).where(
            tags.c.repository_id == repository_id, tags.c.image == image, tags.c.name == tag
        )
    ).scalar()


def set_tag(conn: Connection, repository_id: int, image: str, tag: str, digest: str) -> str | None:
    """Point a tag at a digest; return the digest it pointed at before (or None)."""
    previous = tag_digest(conn, repository_id, image, tag)
    if previous is None:
        inserted = conn.execute(
            _dialect_insert(conn, tags)
            .values(
                repository_id=repository_id,
                image=image,
                name=tag,
                digest=digest,
                updated_at=_now(),
            )
            .on_conflict_do_nothing(index_elements=["repository_id", "image", "name"])
            .returning(tags.c.name)  # not rowcount: psycopg may report -1 for ON CONFLICT
        )
        if inserted.first() is not None:
            return None
        previous = tag_digest(conn, repository_id, image, tag)  # set meanwhile: move it
    if previous != digest:
        conn.execute(
            update(tags)
            .where(tags.c.repository_id == repository_id, tags.c.image == image, tags.c.name == tag)
            .values(digest=digest, updated_at=_now())
        )
    return previous


def list_tags_for(conn: Connection, repository_id: int, image: str, digest: str) -> list[str]:
    return list(
        conn.execute(
            select(tags.c.name).where(
                tags.c.repository_id == repository_id,
                tags.c.image == image,
                tags.c.digest == digest,
            )
        ).scalars()
    )


def delete_tag(conn: Connection, repository_id: int, image: str, tag: str) -> bool:
    result = conn.execute(
        delete(tags).where(
            tags.c.repository_id == repository_id, tags.c.image == image, tags.c.name == tag
        )
    )
    return result.rowcount > 0


def _bytewise(conn: Connection, column: Any) -> Any:
    """Compare and sort by code point on every database (PostgreSQL would use its locale)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def list_tags(
    conn: Connection, repository_id: int, image: str, last: str | None, limit: int | None
) -> list[str]:
    name = _bytewise(conn, tags.c.name)
    query = select(tags.c.name).where(tags.c.repository_id == repository_id, tags.c.image == image)
    if last is not None:
        query = query.where(name > last)
    query = query.order_by(name)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).scalars())


def image_exists(conn: Connection, repository_id: int, image: str) -> bool:
    """An image exists while it holds a manifest or a blob link."""
    has_manifest = exists().where(
        manifests.c.repository_id == repository_id, manifests.c.image == image
    )
    has_blob = exists().where(
        repository_blobs.c.repository_id == repository_id, repository_blobs.c.image == image
    )
    return bool(conn.execute(select(has_manifest | has_blob)).scalar())


def list_images(
    conn: Connection, repository_ids: dict[int, str], last: str | None, limit: int | None
) -> list[str]:
    """Full names ``<repo-key>/<image>`` of images holding manifests, sorted, paginated."""
    if not repository_ids:
        return []
    rows = conn.execute(
        select(manifests.c.repository_id, manifests.c.image)
        .where(manifests.c.repository_id.in_(list(repository_ids)))
        .group_by(manifests.c.repository_id, manifests.c.image)
    ).all()
    names = sorted(f"{repository_ids[rid]}/{image}" for rid, image in rows)
    if last is not None:
        names = [n for n in names if n > last]
    return names[:limit] if limit is not None else names


def count_manifests(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(manifests)).scalar() or 0)

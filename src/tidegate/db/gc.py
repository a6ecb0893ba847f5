"""Queries of garbage collection and storage accounting, and the per-digest lock.

The per-digest lock (``lock_digests``) is the one protocol that makes an online GC safe: the
sweep deletes a blob's row and unlinks its file only while holding it, and whoever makes a
blob visible (an upload commit moving a file into place, a mount, a promotion, a remote
cache fill, a manifest naming it) takes it too and re-checks inside the same transaction.
PostgreSQL: transaction-scoped advisory locks, taken in one sorted order (no deadlock between
two multi-digest holders). SQLite: every write transaction already holds the database's write
lock from ``BEGIN IMMEDIATE``, so nothing more is needed.

Every query is set-based (EXISTS anti-joins on indexed columns) and paged by digest (keyset),
so memory stays flat over 100,000 blobs. No function here commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
)

from tidegate.db.tables import (
    blobs,
    manifest_contents,
    manifest_references,
    manifests,
    repositories,
    repository_blobs,
    trash,
    trash_references,
    uploads,
)


def _lock_key(digest: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(digest.encode()).digest()[:8], "big", signed=True)


def lock_digests(conn: Connection, digests: Iterable[str]) -> None:
    """Hold the per-digest lock of each digest until the transaction ends (see above)."""
    if conn.dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already serialises every write transaction
    keys = sorted({_lock_key(d) for d in digests})
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        conn.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
            {"keys": chunk},
        )


# --- mark ----------------------------------------------------------------------------------


def live(cutoff: datetime) -> ColumnElement[bool]:
    """True for a row of ``blobs`` garbage collection must keep: named by a manifest in any
    repository, linked into a repository less than the grace period ago, or stored less than
    the grace period ago. The one definition of "live" (mark), used by the dry run, the
    listing and the sweep's re-check under the lock. Uploads in progress have no digest yet:
    the lock protects the moment they get one (their commit)."""
    return or_(
        blobs.c.created_at >= cutoff,
        exists().where(manifest_references.c.digest == blobs.c.digest),
        exists().where(
            repository_blobs.c.digest == blobs.c.digest, repository_blobs.c.created_at >= cutoff
        ),
        # a manifest in the trash keeps what it references until the entry expires
        exists().where(trash_references.c.digest == blobs.c.digest),
    )


def _link_needed(cutoff: datetime) -> ColumnElement[bool]:
    """A repository's link to a blob stays while a manifest of the same repository and image
    names the blob, or while it is younger than the grace period."""
    return or_(
        repository_blobs.c.created_at >= cutoff,
        exists().where(
            manifests.c.repository_id == repository_blobs.c.repository_id,
            manifests.c.image == repository_blobs.c.image,
            manifest_references.c.manifest_id == manifests.c.id,
            manifest_references.c.digest == repository_blobs.c.digest,
        ),
        # a trashed manifest keeps its links, so a restore serves its blobs at once
        exists().where(
            trash.c.repository_id == repository_blobs.c.repository_id,
            trash.c.image == repository_blobs.c.image,
            trash_references.c.trash_id == trash.c.id,
            trash_references.c.digest == repository_blobs.c.digest,
        ),
    )


def dangling_links(
    conn: Connection, cutoff: datetime, after: tuple[int, str, str] | None, limit: int
) -> list[tuple[int, str, str]]:
    """(repository id, image, digest) of links no manifest of their image needs, older than
    the grace period; one page, after ``after``."""
    key = tuple_(
        repository_blobs.c.repository_id, repository_blobs.c.image, repository_blobs.c.digest
    )
    query = select(
        repository_blobs.c.repository_id, repository_blobs.c.image, repository_blobs.c.digest
    ).where(~_link_needed(cutoff))
    if after is not None:
        query = query.where(key > tuple_(*after))
    rows = conn.execute(
        query.order_by(
            repository_blobs.c.repository_id, repository_blobs.c.image, repository_blobs.c.digest
        ).limit(limit)
    )
    return [(int(r), str(i), str(d)) for r, i, d in rows]


def count_dangling_links(conn: Connection, cutoff: datetime) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(repository_blobs).where(~_link_needed(cutoff))
        ).scalar()
        or 0
    )


def remove_links(conn: Connection, links: list[tuple[int, str, str]], cutoff: datetime) -> int:
    """Delete those of ``links`` that are still not needed (re-checked: call under the lock)."""
    if not links:
        return 0
    key = tuple_(
        repository_blobs.c.repository_id, repository_blobs.c.image, repository_blobs.c.digest
    )
    result = conn.execute(delete(repository_blobs).where(key.in_(links), ~_link_needed(cutoff)))
    return int(result.rowcount or 0)


def garbage_blobs(
    conn: Connection, cutoff: datetime, after: str | None, limit: int
) -> list[tuple[str, int]]:
    """(digest, size) of blobs that are not live, one page in digest order after ``after``."""
    query = select(blobs.c.digest, blobs.c.size).where(~live(cutoff))
    if after is not None:
        query = query.where(blobs.c.digest > after)
    rows = conn.execute(query.order_by(blobs.c.digest).limit(limit))
    return [(str(d), int(s)) for d, s in rows]


def count_garbage_blobs(conn: Connection, cutoff: datetime) -> tuple[int, int]:
    """(count, bytes) of the blobs that are not live."""
    count, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)).where(~live(cutoff))
    ).one()
    return int(count), int(total)


def delete_blobs(conn: Connection, digests: list[str], cutoff: datetime) -> list[tuple[str, int]]:
    """Delete the rows (and the links) of those of ``digests`` that are still garbage,
    re-checked in this transaction: call under the lock. Returns (digest, size) deleted."""
    if not digests:
        return []
    doomed = [
        (str(d), int(s))
        for d, s in conn.execute(
            select(blobs.c.digest, blobs.c.size).where(blobs.c.digest.in_(digests), ~live(cutoff))
        )
    ]
    names = [d for d, _ in doomed]
    if names:
        conn.execute(delete(repository_blobs).where(repository_blobs.c.digest.in_(names)))
        conn.execute(delete(blobs).where(blobs.c.digest.in_(names)))
    return doomed


def _content_named() -> ColumnElement[bool]:
    return or_(
        exists().where(manifests.c.digest == manifest_contents.c.digest),
        exists().where(trash.c.digest == manifest_contents.c.digest),  # restorable bytes
    )


def unnamed_contents(conn: Connection, after: str | None, limit: int) -> list[str]:
    """Digests of manifest bytes no manifest row names, one page."""
    query = select(manifest_contents.c.digest).where(~_content_named())
    if after is not None:
        query = query.where(manifest_contents.c.digest > after)
    rows = conn.execute(query.order_by(manifest_contents.c.digest).limit(limit)).scalars()
    return [str(d) for d in rows]


def delete_contents(conn: Connection, digests: list[str]) -> int:
    """Delete those of ``digests`` still unnamed (re-checked: call under the lock)."""
    if not digests:
        return 0
    result = conn.execute(
        delete(manifest_contents).where(manifest_contents.c.digest.in_(digests), ~_content_named())
    )
    return int(result.rowcount or 0)


# --- uploads -----------------------------------------------------------------------------


def stale_uploads(conn: Connection, before: datetime, after: str | None, limit: int) -> list[str]:
    """Upload sessions nobody appended to since ``before``, one page."""
    query = select(uploads.c.id).where(uploads.c.updated_at < before)
    if after is not None:
        query = query.where(uploads.c.id > after)
    return [str(r) for r in conn.execute(query.order_by(uploads.c.id).limit(limit)).scalars()]


def known_uploads(conn: Connection, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return {
        str(r) for r in conn.execute(select(uploads.c.id).where(uploads.c.id.in_(ids))).scalars()
    }


def remove_uploads(conn: Connection, ids: list[str], before: datetime) -> list[str]:
    """Delete the sessions of ``ids`` still untouched since ``before``; returns those deleted."""
    if not ids:
        return []
    gone = [
        str(r)
        for r in conn.execute(
            select(uploads.c.id).where(uploads.c.id.in_(ids), uploads.c.updated_at < before)
        ).scalars()
    ]
    if gone:
        conn.execute(delete(uploads).where(uploads.c.id.in_(gone)))
    return gone


# --- accounting --------------------------------------------------------------------------


def on_disk(conn: Connection) -> tuple[int, int]:
    """(blob count, bytes) stored once, deduplicated."""
    count, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(blobs.c.size), 0))
    ).one()
    return int(count), int(total)


def manifest_bytes_stored(conn: Connection) -> tuple[int, int]:
    """(count, bytes) of distinct manifest contents."""
    size = func.length(manifest_contents.c.content)
    count, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(size), 0)).select_from(manifest_contents)
    ).one()
    return int(count), int(total)


def repository_usage(
    conn: Connection, repository_id: int | None = None
) -> dict[int, dict[str, int]]:
    """Per repository: distinct blobs linked (count, bytes) and manifests (count, bytes).
    Logical bytes = blob bytes + manifest bytes."""
    linked = (
        select(repository_blobs.c.repository_id.label("rid"), repository_blobs.c.digest)
        .group_by(repository_blobs.c.repository_id, repository_blobs.c.digest)
        .subquery()
    )
    blob_q = (
        select(linked.c.rid, func.count(), func.coalesce(func.sum(blobs.c.size), 0))
        .join(blobs, blobs.c.digest == linked.c.digest)
        .group_by(linked.c.rid)
    )
    man_q = select(
        manifests.c.repository_id, func.count(), func.coalesce(func.sum(manifests.c.size), 0)
    ).group_by(manifests.c.repository_id)
    if repository_id is not None:
        blob_q = blob_q.where(linked.c.rid == repository_id)
        man_q = man_q.where(manifests.c.repository_id == repository_id)
    usage: dict[int, dict[str, int]] = {}
    ids = select(repositories.c.id)
    if repository_id is not None:
        ids = ids.where(repositories.c.id == repository_id)
    for (rid,) in conn.execute(ids):
        usage[int(rid)] = {"blobs": 0, "blob_bytes": 0, "manifests": 0, "manifest_bytes": 0}
    for rid, count, total in conn.execute(blob_q):
        usage.setdefault(
            int(rid), dict.fromkeys(("blobs", "blob_bytes", "manifests", "manifest_bytes"), 0)
        )
        usage[int(rid)].update(blobs=int(count), blob_bytes=int(total))
    for rid, count, total in conn.execute(man_q):
        usage.setdefault(
            int(rid), dict.fromkeys(("blobs", "blob_bytes", "manifests", "manifest_bytes"), 0)
        )
        usage[int(rid)].update(manifests=int(count), manifest_bytes=int(total))
    return usage


def repository_logical_bytes(conn: Connection, repository_id: int) -> int:
    """Distinct blobs linked into the repository plus its manifests' bytes (the quota's unit)."""
    blob_bytes = conn.execute(
        select(func.coalesce(func.sum(blobs.c.size), 0)).where(
            blobs.c.digest.in_(
                select(repository_blobs.c.digest).where(
                    repository_blobs.c.repository_id == repository_id
                )
            )
        )
    ).scalar()
    manifest_bytes = conn.execute(
        select(func.coalesce(func.sum(manifests.c.size), 0)).where(
            manifests.c.repository_id == repository_id
        )
    ).scalar()
    return int(blob_bytes or 0) + int(manifest_bytes or 0)


def unlinked(conn: Connection, repository_id: int, digests: Iterable[str]) -> set[str]:
    """Those of ``digests`` not linked anywhere in the repository (any image)."""
    wanted = sorted(set(digests))
    linked: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        linked.update(
            str(d)
            for d in conn.execute(
                select(repository_blobs.c.digest)
                .where(
                    repository_blobs.c.repository_id == repository_id,
                    repository_blobs.c.digest.in_(chunk),
                )
                .distinct()
            ).scalars()
        )
    return set(wanted) - linked


def without_rows(conn: Connection, digests: list[str]) -> set[str]:
    """Those of ``digests`` that have no ``blobs`` row."""
    if not digests:
        return set()
    have = conn.execute(select(blobs.c.digest).where(blobs.c.digest.in_(digests))).scalars()
    return set(digests) - {str(d) for d in have}


def blob_sizes(conn: Connection, digests: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(digests))
    sizes: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(select(blobs.c.digest, blobs.c.size).where(blobs.c.digest.in_(chunk)))
        sizes.update({str(d): int(n) for d, n in rows})
    return sizes


def image_usage(conn: Connection, repository_id: int) -> list[dict[str, Any]]:
    """Per image of a repository: distinct blobs linked (bytes) and manifests (count, bytes)."""
    linked = (
        select(repository_blobs.c.image, func.count(), func.coalesce(func.sum(blobs.c.size), 0))
        .join(blobs, blobs.c.digest == repository_blobs.c.digest)
        .where(repository_blobs.c.repository_id == repository_id)
        .group_by(repository_blobs.c.image)
    )
    man = (
        select(manifests.c.image, func.count(), func.coalesce(func.sum(manifests.c.size), 0))
        .where(manifests.c.repository_id == repository_id)
        .group_by(manifests.c.image)
    )
    images: dict[str, dict[str, Any]] = {}

    def entry(image: str) -> dict[str, Any]:
        return images.setdefault(
            image,
            {"image": image, "blobs": 0, "blob_bytes": 0, "manifests": 0, "manifest_bytes": 0},
        )

    for image, count, total in conn.execute(linked):
        entry(str(image)).update(blobs=int(count), blob_bytes=int(total))
    for image, count, total in conn.execute(man):
        entry(str(image)).update(manifests=int(count), manifest_bytes=int(total))
    return [images[k] for k in sorted(images)]

"""Repository quotas: the one check every way of adding content to a repository goes through.

A repository's ``quota`` option (bytes) bounds its logical size: the distinct blobs linked into
it plus its manifests' bytes (``db/gc.py:repository_logical_bytes``, the number
``/api/v1/storage`` shows). ``check`` runs inside the transaction that links or stores, before
anything is written; past the limit it raises ``QuotaExceeded`` (DENIED, naming the repository,
the quota and the usage) and the transaction writes nothing. ``reported`` wraps the
transaction and, after the rollback, publishes ``quota.exceeded`` in a transaction of its own.
Callers: upload commit and mounts (services/uploads.py, services/blobs.py), manifest puts
(services/manifests.py), promotion (services/promotion.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import Connection

from tidegate.config import format_size
from tidegate.db import Database
from tidegate.db import gc as gc_q
from tidegate.db import promotions as promotion_q
from tidegate.errors import QuotaExceeded
from tidegate.services.names import ImageRef


def lock(conn: Connection, ref: ImageRef) -> None:
    """Before the digest locks (one order everywhere: repository, then digests; promotion takes
    the same): on PostgreSQL, one arrival at a time into a repository with a quota, so two
    concurrent pushes cannot both squeeze under it."""
    if _quota(ref) is not None:
        promotion_q.lock_repository(conn, ref.repository_id)


def _quota(ref: ImageRef) -> int | None:
    quota = ref.option("quota")
    return quota if isinstance(quota, int) and not isinstance(quota, bool) else None


def check(
    conn: Connection,
    ref: ImageRef,
    blobs: Mapping[str, int] | None = None,
    manifest_bytes: int = 0,
    what: str = "the push",
) -> None:
    """Refuse when linking ``blobs`` (digest -> size; those already in the repository add
    nothing) and storing ``manifest_bytes`` of new manifests would pass the quota of ``ref``'s
    repository. Nothing new (a re-push, a retag) is never refused."""
    quota = _quota(ref)
    if quota is None:
        return
    new = gc_q.unlinked(conn, ref.repository_id, (blobs or {}).keys())
    added = sum((blobs or {})[d] for d in new) + manifest_bytes
    if added <= 0:
        return
    usage = gc_q.repository_logical_bytes(conn, ref.repository_id)
    if usage + added <= quota:
        return
    key = ref.repository.key
    raise QuotaExceeded(
        f"quota exceeded: repository {key!r} has a quota of {format_size(quota)} ({quota} bytes)"
        f" and uses {format_size(usage)} ({usage} bytes); {what} would add"
        f" {format_size(added)} ({added} bytes). Nothing was stored. Raise the quota or free"
        " space: deleted images count until their trash entry expires (trash_days) or is"
        " purged (tidegate trash purge ID, DELETE /api/v1/trash/{id}), then garbage"
        " collection reclaims them.",
        {"repository": key, "quota": quota, "usage": usage, "adding": added, "image": ref.image},
    )


@contextmanager
def reported(db: Database) -> Iterator[None]:
    """Publish ``quota.exceeded`` for a refusal raised inside (after its rollback)."""
    try:
        yield
    except QuotaExceeded as exc:
        detail = dict(exc.detail or {})
        with db.transaction() as conn:
            promotion_q.publish(
                conn,
                "quota.exceeded",
                f"{detail.get('repository')}/{detail.get('image')}",
                {**detail, "message": exc.message},
            )
        raise

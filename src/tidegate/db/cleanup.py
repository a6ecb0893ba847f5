"""Queries for cleanup: what a repository holds (for the policy), what a deletion frees,
stored plans, and when a scheduled policy last ran. No function here commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tidegate.db.content import _dialect_insert
from tidegate.db.tables import (
    blobs,
    cleanup_plans,
    manifest_references,
    manifests,
    properties,
    retention_runs,
    tags,
)

_BATCH = 500


def aware(value: datetime) -> datetime:
    """SQLite returns times without their zone; every time stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _batches(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(values)
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


@dataclass(slots=True)
class ManifestRow:
    id: int
    image: str
    digest: str
    subject: str | None
    artifact_type: str | None
    created_at: datetime
    children: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    properties: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TagRow:
    image: str
    name: str
    digest: str
    updated_at: datetime


def repository_state(
    conn: Connection, repository_id: int
) -> tuple[dict[int, ManifestRow], list[TagRow]]:
    """Every manifest (with its references and properties) and every tag of a repository."""
    rows: dict[int, ManifestRow] = {}
    for r in conn.execute(
        select(
            manifests.c.id,
            manifests.c.image,
            manifests.c.digest,
            manifests.c.subject,
            manifests.c.artifact_type,
            manifests.c.created_at,
        ).where(manifests.c.repository_id == repository_id)
    ):
        rows[int(r.id)] = ManifestRow(
            int(r.id), r.image, r.digest, r.subject, r.artifact_type, aware(r.created_at)
        )
    refs = conn.execute(
        select(
            manifest_references.c.manifest_id,
            manifest_references.c.digest,
            manifest_references.c.kind,
        )
        .join(manifests, manifests.c.id == manifest_references.c.manifest_id)
        .where(manifests.c.repository_id == repository_id)
    )
    for manifest_id, digest, kind in refs:
        row = rows.get(int(manifest_id))
        if row is not None:
            (row.children if kind == "manifest" else row.blobs).append(digest)
    props = conn.execute(
        select(properties.c.manifest_id, properties.c.key, properties.c.value)
        .join(manifests, manifests.c.id == properties.c.manifest_id)
        .where(manifests.c.repository_id == repository_id)
        .order_by(properties.c.id)
    )
    for manifest_id, key, value in props:
        row = rows.get(int(manifest_id))
        if row is not None:
            row.properties.setdefault(key, []).append(value)
    tag_rows = [
        TagRow(r.image, r.name, r.digest, aware(r.updated_at))
        for r in conn.execute(
            select(tags.c.image, tags.c.name, tags.c.digest, tags.c.updated_at).where(
                tags.c.repository_id == repository_id
            )
        )
    ]
    return rows, tag_rows


def referenced_outside(
    conn: Connection, digests: Iterable[str], excluded_manifest_ids: set[int]
) -> set[str]:
    """Which of ``digests`` a manifest row not in ``excluded_manifest_ids`` references (as a
    blob or a child) or is, in any repository."""
    found: set[str] = set()
    for batch in _batches(set(digests)):
        for manifest_id, digest in conn.execute(
            select(manifest_references.c.manifest_id, manifest_references.c.digest).where(
                manifest_references.c.digest.in_(batch)
            )
        ):
            if int(manifest_id) not in excluded_manifest_ids:
                found.add(digest)
        for manifest_id, digest in conn.execute(
            select(manifests.c.id, manifests.c.digest).where(manifests.c.digest.in_(batch))
        ):
            if int(manifest_id) not in excluded_manifest_ids:
                found.add(digest)
    return found


def blob_sizes(conn: Connection, digests: Iterable[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for batch in _batches(set(digests)):
        for digest, size in conn.execute(
            select(blobs.c.digest, blobs.c.size).where(blobs.c.digest.in_(batch))
        ):
            sizes[digest] = int(size)
    return sizes


def manifest_sizes(conn: Connection, manifest_ids: Iterable[int]) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for batch in _batches(set(manifest_ids)):
        for manifest_id, size in conn.execute(
            select(manifests.c.id, manifests.c.size).where(manifests.c.id.in_(batch))
        ):
            sizes[int(manifest_id)] = int(size)
    return sizes


# --- plans -------------------------------------------------------------------------------

PLAN_COLUMNS = (
    cleanup_plans.c.id,
    cleanup_plans.c.repository,
    cleanup_plans.c.actor,
    cleanup_plans.c.created_at,
    cleanup_plans.c.expires_at,
    cleanup_plans.c.policy,
    cleanup_plans.c["items"],
    cleanup_plans.c.refused,
    cleanup_plans.c.state,
    cleanup_plans.c.applied_at,
    cleanup_plans.c.applied_by,
    cleanup_plans.c.result,
)


def insert_plan(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(cleanup_plans).values(**values))


def get_plan(conn: Connection, plan_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(*PLAN_COLUMNS).where(cleanup_plans.c.id == plan_id)).first()
    return _plan(row) if row else None


def _plan(row: Any) -> dict[str, Any]:
    plan = dict(row._mapping)
    for key in ("created_at", "expires_at", "applied_at"):
        if plan[key] is not None:
            plan[key] = aware(plan[key])
    return plan


def list_plans(conn: Connection, repositories: list[str], limit: int) -> list[dict[str, Any]]:
    """Newest first, without their items (``count`` and ``refused_count`` instead)."""
    if not repositories:
        return []
    rows = conn.execute(
        select(*PLAN_COLUMNS)
        .where(cleanup_plans.c.repository.in_(repositories))
        .order_by(cleanup_plans.c.created_at.desc(), cleanup_plans.c.id)
        .limit(limit)
    )
    return [_plan(r) for r in rows]


def claim_plan(conn: Connection, plan_id: str, actor: str, now: datetime) -> bool:
    """Mark a planned plan as being applied; False when it is not (anymore) planned — a
    second apply, also one racing in another process, loses here."""
    result = conn.execute(
        update(cleanup_plans)
        .where(cleanup_plans.c.id == plan_id, cleanup_plans.c.state == "planned")
        .values(state="applying", applied_by=actor[:128], applied_at=now)
    )
    return result.rowcount == 1


def finish_plan(conn: Connection, plan_id: str, result: dict[str, Any], now: datetime) -> None:
    conn.execute(
        update(cleanup_plans)
        .where(cleanup_plans.c.id == plan_id)
        .values(state="applied", applied_at=now, result=result)
    )


# --- scheduled runs ----------------------------------------------------------------------


def last_run(conn: Connection, repository_id: int) -> float | None:
    value = conn.execute(
        select(retention_runs.c.last_run).where(retention_runs.c.repository_id == repository_id)
    ).scalar()
    return None if value is None else float(value)


def claim_run(conn: Connection, repository_id: int, previous: float | None, now: float) -> bool:
    """Move the repository's last run from ``previous`` (what the caller read) to ``now``;
    True for exactly one caller among processes racing for the same run."""
    if previous is None:
        inserted = conn.execute(
            _dialect_insert(conn, retention_runs)
            .values(repository_id=repository_id, last_run=now)
            .on_conflict_do_nothing(index_elements=["repository_id"])
            .returning(retention_runs.c.repository_id)
        )
        return inserted.first() is not None
    result = conn.execute(
        update(retention_runs)
        .where(
            retention_runs.c.repository_id == repository_id,
            retention_runs.c.last_run == previous,
        )
        .values(last_run=now)
    )
    return result.rowcount == 1


def start_clock(conn: Connection, repository_id: int, now: float) -> None:
    """Count the repository's schedule from ``now`` (a policy was set or changed): its first
    run is one interval later."""
    conn.execute(
        _dialect_insert(conn, retention_runs)
        .values(repository_id=repository_id, last_run=now)
        .on_conflict_do_update(index_elements=["repository_id"], set_={"last_run": now})
    )


def record_run(
    conn: Connection, repository_id: int, plan_id: str | None, result: dict[str, Any]
) -> None:
    conn.execute(
        update(retention_runs)
        .where(retention_runs.c.repository_id == repository_id)
        .values(plan_id=plan_id, result=result)
    )

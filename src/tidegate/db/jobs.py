"""Queries on jobs, job leases and schedules. Times in leases and schedules are epoch seconds
(float), compared with ``time.time()`` on every database alike. No function here commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tidegate.db.tables import job_leases, job_schedules, jobs

JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.kind,
    jobs.c.state,
    jobs.c.params,
    jobs.c.progress,
    jobs.c.result,
    jobs.c.error,
    jobs.c.actor,
    jobs.c.created_at,
    jobs.c.started_at,
    jobs.c.finished_at,
    jobs.c.heartbeat,
)


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def create(
    conn: Connection, job_id: str, kind: str, params: dict[str, Any], actor: str, now: float
) -> None:
    conn.execute(
        insert(jobs).values(
            id=job_id,
            kind=kind,
            state="queued",
            params=params,
            progress={},
            actor=actor[:128],
            created_at=datetime.now(UTC),
            heartbeat=now,
        )
    )


def get(conn: Connection, job_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(*JOB_COLUMNS).where(jobs.c.id == job_id)).first()
    return dict(row._mapping) if row else None


def latest(conn: Connection, kind: str, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(*JOB_COLUMNS)
        .where(jobs.c.kind == kind)
        .order_by(jobs.c.created_at.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def update_job(conn: Connection, job_id: str, **values: Any) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


# --- leases ------------------------------------------------------------------------------


def take_lease(
    conn: Connection, key: str, holder: str, job_id: str | None, expires_at: float, now: float
) -> bool:
    """Insert the lease, or take over an expired one. True when ``holder`` now holds it."""
    inserted = conn.execute(
        _insert(conn, job_leases)
        .values(key=key, holder=holder, job_id=job_id, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(job_leases.c.key)  # not rowcount: psycopg reports -1 for ON CONFLICT
    ).first()
    if inserted is not None:
        return True
    taken = conn.execute(
        update(job_leases)
        .where(job_leases.c.key == key, job_leases.c.expires_at < now)
        .values(holder=holder, job_id=job_id, expires_at=expires_at)
    )
    return bool(taken.rowcount)


def lease_holder(conn: Connection, key: str, now: float) -> str | None:
    """The job id (or holder) of a lease that has not expired, else None."""
    row = conn.execute(
        select(job_leases.c.holder, job_leases.c.job_id).where(
            job_leases.c.key == key, job_leases.c.expires_at >= now
        )
    ).first()
    return None if row is None else str(row[1] or row[0])


def renew_lease(conn: Connection, key: str, holder: str, expires_at: float) -> bool:
    result = conn.execute(
        update(job_leases)
        .where(job_leases.c.key == key, job_leases.c.holder == holder)
        .values(expires_at=expires_at)
    )
    return bool(result.rowcount)


def release_lease(conn: Connection, key: str, holder: str) -> None:
    conn.execute(delete(job_leases).where(job_leases.c.key == key, job_leases.c.holder == holder))


# --- schedules ---------------------------------------------------------------------------


def claim_due(conn: Connection, name: str, interval: float, now: float) -> bool:
    """True for exactly one caller per due run of ``name`` in the deployment: the first
    sighting schedules it one interval ahead; a due run is claimed by moving it forward."""
    inserted = conn.execute(
        _insert(conn, job_schedules)
        .values(name=name, next_run_at=now + interval)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(job_schedules.c.name)
    ).first()
    if inserted is not None:
        return False
    claimed = conn.execute(
        update(job_schedules)
        .where(job_schedules.c.name == name, job_schedules.c.next_run_at <= now)
        .values(next_run_at=now + interval)
    )
    return bool(claimed.rowcount)

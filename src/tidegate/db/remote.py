"""Queries of remote repositories (pull-through caches): tag freshness, the negative cache,
fetch leases and repository secrets. Times are epoch seconds. No function here commits."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from tidegate.db.content import _dialect_insert
from tidegate.db.repositories import UPSTREAM_PASSWORD as UPSTREAM_PASSWORD
from tidegate.db.tables import (
    remote_leases,
    remote_negative,
    remote_tag_checks,
    repository_secrets,
    tags,
)

# --- tag freshness -----------------------------------------------------------------------


def cached_tag(
    conn: Connection, repository_id: int, image: str, tag: str
) -> tuple[str, float] | None:
    """(digest, last checked) of a cached tag; a tag without a check row counts as never
    checked (0.0)."""
    row = conn.execute(
        select(tags.c.digest, remote_tag_checks.c.checked_at)
        .select_from(tags)
        .outerjoin(
            remote_tag_checks,
            (remote_tag_checks.c.repository_id == tags.c.repository_id)
            & (remote_tag_checks.c.image == tags.c.image)
            & (remote_tag_checks.c.tag == tags.c.name),
        )
        .where(tags.c.repository_id == repository_id, tags.c.image == image, tags.c.name == tag)
    ).first()
    if row is None:
        return None
    return str(row[0]), float(row[1] or 0.0)


def mark_checked(conn: Connection, repository_id: int, image: str, tag: str, at: float) -> None:
    stmt = _dialect_insert(conn, remote_tag_checks).values(
        repository_id=repository_id, image=image, tag=tag, checked_at=at
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["repository_id", "image", "tag"], set_={"checked_at": at}
        )
    )


# --- negative cache ----------------------------------------------------------------------


def is_negative(
    conn: Connection, repository_id: int, image: str, reference: str, now: float
) -> bool:
    expires = conn.execute(
        select(remote_negative.c.expires_at).where(
            remote_negative.c.repository_id == repository_id,
            remote_negative.c.image == image,
            remote_negative.c.reference == reference,
        )
    ).scalar()
    return expires is not None and float(expires) > now


def set_negative(
    conn: Connection, repository_id: int, image: str, reference: str, expires_at: float
) -> None:
    stmt = _dialect_insert(conn, remote_negative).values(
        repository_id=repository_id, image=image, reference=reference, expires_at=expires_at
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["repository_id", "image", "reference"],
            set_={"expires_at": expires_at},
        )
    )


def clear_negative(conn: Connection, repository_id: int, image: str, reference: str) -> None:
    conn.execute(
        delete(remote_negative).where(
            remote_negative.c.repository_id == repository_id,
            remote_negative.c.image == image,
            remote_negative.c.reference == reference,
        )
    )


# --- leases ------------------------------------------------------------------------------


def forget_negatives(conn: Connection, repository_id: int) -> None:
    """Drop every remembered "not upstream" of a repository (its upstream settings changed)."""
    conn.execute(delete(remote_negative).where(remote_negative.c.repository_id == repository_id))


def take_lease(conn: Connection, key: str, holder: str, expires_at: float, now: float) -> bool:
    """Insert the lease, or take over an expired one. True when ``holder`` now holds it."""
    # RETURNING, not rowcount: PostgreSQL's driver reports -1 for INSERT .. ON CONFLICT here
    inserted = conn.execute(
        _dialect_insert(conn, remote_leases)
        .values(key=key, holder=holder, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(remote_leases.c.key)
    ).first()
    if inserted is not None:
        return True
    taken = conn.execute(
        update(remote_leases)
        .where(remote_leases.c.key == key, remote_leases.c.expires_at < now)
        .values(holder=holder, expires_at=expires_at, upload_id=None, size=None)
    )
    return bool(taken.rowcount)


def describe_lease(conn: Connection, key: str, holder: str, upload_id: str, size: int) -> None:
    """Tell waiters elsewhere where the bytes are being written."""
    conn.execute(
        update(remote_leases)
        .where(remote_leases.c.key == key, remote_leases.c.holder == holder)
        .values(upload_id=upload_id, size=size)
    )


def renew_lease(conn: Connection, key: str, holder: str, expires_at: float) -> None:
    conn.execute(
        update(remote_leases)
        .where(remote_leases.c.key == key, remote_leases.c.holder == holder)
        .values(expires_at=expires_at)
    )


def lease(conn: Connection, key: str) -> tuple[str, str | None, int | None, float] | None:
    """(holder, upload id, size, expires at) of a lease, or None."""
    row = conn.execute(
        select(
            remote_leases.c.holder,
            remote_leases.c.upload_id,
            remote_leases.c.size,
            remote_leases.c.expires_at,
        ).where(remote_leases.c.key == key)
    ).first()
    if row is None:
        return None
    return str(row[0]), row[1], None if row[2] is None else int(row[2]), float(row[3])


def release_lease(conn: Connection, key: str, holder: str) -> None:
    conn.execute(
        delete(remote_leases).where(remote_leases.c.key == key, remote_leases.c.holder == holder)
    )


# --- secrets -----------------------------------------------------------------------------


def get_secret(conn: Connection, repository_id: int, name: str) -> str | None:
    return conn.execute(
        select(repository_secrets.c.value).where(
            repository_secrets.c.repository_id == repository_id,
            repository_secrets.c.name == name,
        )
    ).scalar()


def set_secret(conn: Connection, repository_id: int, name: str, value: str | None) -> None:
    """Store (or with None remove) a repository's secret."""
    conn.execute(
        delete(repository_secrets).where(
            repository_secrets.c.repository_id == repository_id,
            repository_secrets.c.name == name,
        )
    )
    if value is not None:
        conn.execute(
            _dialect_insert(conn, repository_secrets).values(
                repository_id=repository_id, name=name, value=value
            )
        )

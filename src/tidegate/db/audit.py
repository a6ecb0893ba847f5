"""Queries on the audit log: append and search. Rows are never updated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from tidegate.db.records import AuditRecord
from tidegate.db.tables import audit_events


def append(conn: Connection, events: Sequence[dict[str, Any]]) -> None:
    """Each event: at, actor, address, action, target, outcome, reason, detail."""
    if events:
        conn.execute(insert(audit_events), list(events))


def search(
    conn: Connection,
    actor: str | None = None,
    action: str | None = None,
    repo: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    until: datetime | None = None,
    outcome: str | None = None,
    after_id: int | None = None,
) -> list[AuditRecord]:
    """Newest first; with ``after_id`` (an export's cursor) oldest first from there."""
    c = audit_events.c
    query = select(
        c.id, c.at, c.actor, c.address, c.action, c.target, c.outcome, c.reason, c.detail
    )
    if after_id is None:
        query = query.order_by(c.id.desc())
    else:
        query = query.where(c.id > after_id).order_by(c.id)
    if until:
        query = query.where(c.at < until)
    if outcome:
        query = query.where(c.outcome == outcome)
    if actor:
        query = query.where(c.actor == actor)
    if action:
        prefix = action.rstrip("*").rstrip(".") + "."  # "user", "user.*": every user.<x>
        query = query.where(or_(c.action == action, c.action.startswith(prefix, autoescape=True)))
    if repo:
        # a repository (``dev``), an image (``dev/shop/cart``) or one reference of it
        query = query.where(
            or_(
                c.target == repo,
                *(c.target.startswith(repo + sep, autoescape=True) for sep in ("/", "@", ":")),
            )
        )
    if since:
        query = query.where(c.at >= since)
    return [AuditRecord(*row) for row in conn.execute(query.limit(limit))]

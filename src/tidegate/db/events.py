"""Queries on event subscriptions (webhooks, email notifications) and their deliveries.

No function here commits. The fan-out and the claims are safe to run from every process at
once: the fan-out locks its cursor row (PostgreSQL ``FOR UPDATE``; SQLite write transactions
are serialised by ``BEGIN IMMEDIATE``), and a claim is one conditional UPDATE per delivery
whose row count says who won.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from tidegate.db.tables import (
    deliveries,
    delivery_attempts,
    event_cursor,
    events,
    group_members,
    groups,
    notifications,
    users,
    webhooks,
)

_FANOUT = "fanout"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A webhook or a notification, as far as matching events goes."""

    webhook_id: int | None
    notification_id: int | None
    events: list[str]
    repositories: list[str]

    def wants(self, type_: str, repository: str | None) -> bool:
        if "*" not in self.events and type_ not in self.events:
            return False
        return not self.repositories or repository in self.repositories


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds the lease of, with what it needs to send it."""

    id: int
    attempts: int
    event: dict[str, Any]  # id, created_at, type, subject, data
    webhook: dict[str, Any] | None  # url, secret
    notification: dict[str, Any] | None  # group_name
    redelivery: bool


# --- subscriptions ---------------------------------------------------------------------------


def create_webhook(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(webhooks).values(created_at=time.time(), **values))
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def list_webhooks(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(webhooks).order_by(webhooks.c.id))]


def get_webhook(conn: Connection, webhook_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
    return dict(row._mapping) if row else None


def update_webhook(conn: Connection, webhook_id: int, values: dict[str, Any]) -> None:
    if values:
        conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(**values))


def delete_webhook(conn: Connection, webhook_id: int) -> bool:
    return bool(conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount)


def create_notification(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(notifications).values(created_at=time.time(), **values))
    (new_id,) = result.inserted_primary_key or (None,)
    assert new_id is not None
    return int(new_id)


def list_notifications(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(notifications).order_by(notifications.c.id))
    return [dict(r._mapping) for r in rows]


def get_notification(conn: Connection, notification_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(notifications).where(notifications.c.id == notification_id)).first()
    return dict(row._mapping) if row else None


def delete_notification(conn: Connection, notification_id: int) -> bool:
    query = delete(notifications).where(notifications.c.id == notification_id)
    return bool(conn.execute(query).rowcount)


@dataclass(frozen=True, slots=True)
class Recipient:
    """An enabled group member with an email address, and who they are for permissions."""

    id: int
    name: str
    kind: str
    is_admin: bool
    email: str


def group_recipients(conn: Connection, group: str) -> list[Recipient]:
    """The group's enabled members that have an email address."""
    u = users.c
    rows = conn.execute(
        select(u.id, u.username, u.kind, u.is_admin, u.email)
        .select_from(groups.join(group_members).join(users))
        .where(groups.c.name == group, u.disabled.is_(False), u.email.is_not(None))
        .order_by(u.email)
    )
    return [
        Recipient(int(i), str(name), str(kind), bool(admin), str(email))
        for i, name, kind, admin, email in rows
        if email
    ]


# --- fan-out ---------------------------------------------------------------------------------


def pending_events(conn: Connection) -> bool:
    """Whether the outbox holds events the fan-out has not seen (a cheap read first)."""
    last = conn.execute(
        select(event_cursor.c.last_id).where(event_cursor.c.name == _FANOUT)
    ).scalar()
    newest = conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1)).scalar()
    return newest is not None and newest > (last or 0)


def fan_out(conn: Connection, limit: int = 500) -> int:
    """Turn outbox events past the cursor into deliveries for every matching subscription,
    and move the cursor. Returns how many events were taken."""
    query = select(event_cursor.c.last_id).where(event_cursor.c.name == _FANOUT)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    last = conn.execute(query).scalar()
    if last is None:
        conn.execute(insert(event_cursor).values(name=_FANOUT, last_id=0))
        last = 0
    rows = list(
        conn.execute(
            select(events.c.id, events.c.type, events.c.data)
            .where(events.c.id > last)
            .order_by(events.c.id)
            .limit(limit)
        )
    )
    if not rows:
        return 0
    subscriptions = [
        Subscription(int(i), None, list(ev or []), list(repos or []))
        for i, ev, repos in conn.execute(
            select(webhooks.c.id, webhooks.c.events, webhooks.c.repositories).where(
                webhooks.c.active.is_(True)
            )
        )
    ] + [
        Subscription(None, int(i), list(ev or []), list(repos or []))
        for i, ev, repos in conn.execute(
            select(notifications.c.id, notifications.c.events, notifications.c.repositories)
        )
    ]
    now = time.time()
    new = []
    for event_id, type_, data in rows:
        repository = data.get("repository") if isinstance(data, dict) else None
        for sub in subscriptions:
            if sub.wants(str(type_), repository):
                new.append(
                    {
                        "event_id": int(event_id),
                        "webhook_id": sub.webhook_id,
                        "notification_id": sub.notification_id,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
    if new:
        conn.execute(insert(deliveries), new)
    conn.execute(
        update(event_cursor).where(event_cursor.c.name == _FANOUT).values(last_id=int(rows[-1][0]))
    )
    return len(rows)


# --- claims and attempts ---------------------------------------------------------------------


def _due(now: float) -> Any:
    d = deliveries.c
    return and_(
        d.state == "pending",
        d.next_attempt_at <= now,
        or_(d.lease_until.is_(None), d.lease_until < now),
    )


def any_due(conn: Connection, now: float) -> bool:
    return conn.execute(select(deliveries.c.id).where(_due(now)).limit(1)).first() is not None


def claim(conn: Connection, holder: str, now: float, lease: float, limit: int) -> list[int]:
    """Take the lease of up to ``limit`` due deliveries; the ids this holder won."""
    candidates = [
        int(i)
        for (i,) in conn.execute(
            select(deliveries.c.id)
            .where(_due(now))
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
        )
    ]
    won = []
    for delivery_id in candidates:
        result = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, _due(now))
            .values(lease_holder=holder, lease_until=now + lease)
        )
        if result.rowcount == 1:
            won.append(delivery_id)
    return won


def load_claimed(conn: Connection, delivery_id: int) -> Claimed | None:
    d = deliveries.c
    row = conn.execute(
        select(
            d.id,
            d.attempts,
            d.webhook_id,
            d.notification_id,
            events.c.id.label("event_id"),
            events.c.created_at,
            events.c.type,
            events.c.subject,
            events.c.data,
        )
        .select_from(deliveries.join(events))
        .where(d.id == delivery_id)
    ).first()
    if row is None:
        return None
    m = row._mapping
    webhook = None
    if m["webhook_id"] is not None:
        hook = get_webhook(conn, int(m["webhook_id"]))
        webhook = {"id": hook["id"], "url": hook["url"], "secret": hook["secret"]} if hook else None
    notification = None
    if m["notification_id"] is not None:
        notification = get_notification(conn, int(m["notification_id"]))
    redelivered = conn.execute(
        select(delivery_attempts.c.id)
        .where(delivery_attempts.c.delivery_id == delivery_id)
        .limit(1)
    ).first()
    event = {
        "id": int(m["event_id"]),
        "created_at": m["created_at"],
        "type": m["type"],
        "subject": m["subject"],
        "data": m["data"],
    }
    return Claimed(
        int(m["id"]),
        int(m["attempts"]),
        event,
        webhook,
        notification,
        redelivered is not None and int(m["attempts"]) == 0,
    )


def record_attempt(
    conn: Connection,
    delivery_id: int,
    holder: str,
    attempt: dict[str, Any],
    state: str,
    next_attempt_at: float | None,
) -> bool:
    """Store an attempt (``at``, ``outcome``, ``response_code``, ``duration_ms``, ``error``,
    ``redelivery``) and the delivery's new state, if this holder still holds the lease."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.lease_holder == holder)
        .values(
            state=state,
            attempts=deliveries.c.attempts + 1,
            next_attempt_at=next_attempt_at,
            lease_holder=None,
            lease_until=None,
            response_code=attempt["response_code"],
            duration_ms=attempt["duration_ms"],
            error=attempt["error"],
            last_attempt_at=attempt["at"],
        )
    )
    if result.rowcount != 1:
        return False
    conn.execute(insert(delivery_attempts).values(delivery_id=delivery_id, **attempt))
    return True


def list_deliveries(conn: Connection, webhook_id: int, limit: int) -> list[dict[str, Any]]:
    d = deliveries.c
    rows = conn.execute(
        select(deliveries, events.c.type.label("event_type"), events.c.subject)
        .select_from(deliveries.join(events))
        .where(d.webhook_id == webhook_id)
        .order_by(d.id.desc())
        .limit(limit)
    )
    result = [dict(r._mapping) for r in rows]
    ids = [r["id"] for r in result]
    by_delivery: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for attempt in conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(ids))
            .order_by(delivery_attempts.c.id)
        ):
            by_delivery[int(attempt.delivery_id)].append(dict(attempt._mapping))
    for r in result:
        r["attempt_log"] = by_delivery[r["id"]]
    return result


def get_delivery(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()
    return dict(row._mapping) if row else None


def redeliver(conn: Connection, delivery_id: int, now: float) -> None:
    """Send again as soon as a worker looks, with a fresh budget of attempts."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            state="pending", attempts=0, next_attempt_at=now, lease_holder=None, lease_until=None
        )
    )

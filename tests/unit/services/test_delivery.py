"""The delivery worker against a real database and real receivers: the attempt budget, the
backoff, and deliveries that cannot succeed (no SMTP server, nobody with an address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.receivers import until, webhook_receiver
from tidegate.auth.identity import IdentityState
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Principal
from tidegate.config import EventSettings, SmtpSettings
from tidegate.db import Database
from tidegate.db import events as events_q
from tidegate.db import users as user_q
from tidegate.db.promotions import publish
from tidegate.db.tables import deliveries
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.delivery import DeliveryWorker
from tidegate.services.events import EventService
from tidegate.services.metrics import Metrics

ADMIN = Actor(Principal("user", "admin", is_admin=True), "127.0.0.1")
FAST = EventSettings(max_attempts=3, backoff=0.05, backoff_max=0.1, poll_interval=0.05)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def events(db: Database) -> EventService:
    return EventService(db, PermissionEvaluator(IdentityState(db)), AuditLog(db))


@pytest.fixture
def worker(db: Database) -> Iterator[DeliveryWorker]:
    running = DeliveryWorker(
        db,
        FAST,
        "https://registry.example.com",
        None,
        Metrics(),
        PermissionEvaluator(IdentityState(db)),
    )
    running.start()
    yield running
    running.stop()


def publish_one(db: Database) -> None:
    with db.transaction() as conn:
        publish(conn, "gc.completed", "gc", {"blobs_deleted": 3})


def delivery(db: Database, webhook_id: int) -> dict[str, Any]:
    """The webhook's one delivery (an empty dict before the fan-out made it)."""
    with db.read() as conn:
        found = events_q.list_deliveries(conn, webhook_id, 10)
    assert len(found) <= 1
    return found[0] if found else {}


def test_a_receiver_that_always_fails_gets_max_attempts_then_the_delivery_is_failed(
    db: Database, events: EventService, worker: DeliveryWorker
) -> None:
    with webhook_receiver(fail_first=1000) as receiver:
        hook = events.create_webhook(ADMIN, receiver.url, ["*"], [], "sixteen-chars-secret")
        publish_one(db)
        until(lambda: delivery(db, hook.id).get("state") == "failed", "the delivery to fail")
        found = delivery(db, hook.id)
        assert [a["response_code"] for a in found["attempt_log"]] == [503, 503, 503]
        assert len(receiver.received) == 3
        gaps = [
            later["at"] - earlier["at"]
            for earlier, later in zip(found["attempt_log"], found["attempt_log"][1:], strict=False)
        ]
        assert all(gap >= 0.05 for gap in gaps)  # backoff waited (at least) its time


def test_email_without_a_mail_server_fails_at_once_with_the_reason(
    db: Database, events: EventService, worker: DeliveryWorker
) -> None:
    with db.transaction() as conn:
        user_q.create_group(conn, "testers", None)
    notification = events.create_notification(ADMIN, "testers", ["gc.completed"], [])
    publish_one(db)

    def failed() -> dict[str, Any] | None:
        with db.read() as conn:
            rows = conn.execute(
                deliveries.select().where(deliveries.c.notification_id == notification.id)
            ).all()
        return dict(rows[0]._mapping) if rows and rows[0].state == "failed" else None

    until(lambda: failed() is not None, "the email delivery to fail")
    row = failed()
    assert row is not None and row["attempts"] == 1
    assert "no smtp server is configured" in row["error"]


def test_email_goes_to_no_member_who_cannot_read_the_image(db: Database) -> None:
    """A group member without read on the event's image gets no mail; when that leaves no
    one, the delivery fails at once saying so (and no mail server is contacted)."""
    with db.transaction() as conn:
        group_id = user_q.create_group(conn, "developers", None)
        dave = user_q.create(conn, "dave", None, False, email="dave@example.com")
        user_q.add_member(conn, group_id, dave)
    evaluator = PermissionEvaluator(IdentityState(db))
    events = EventService(db, evaluator, AuditLog(db))
    notification = events.create_notification(ADMIN, "developers", ["image.promoted"], [])
    smtp = SmtpSettings(host="127.0.0.1", port=9, timeout=2)
    running = DeliveryWorker(db, FAST, "https://r.example.com", smtp, Metrics(), evaluator)
    running.start()
    try:
        with db.transaction() as conn:
            data = {"repository": "prod", "image": "shop/cart", "digest": "sha256:" + "0" * 64}
            publish(conn, "image.promoted", "prod/shop/cart:1.0", data)

        def failed() -> dict[str, Any] | None:
            with db.read() as conn:
                rows = conn.execute(
                    deliveries.select().where(deliveries.c.notification_id == notification.id)
                ).all()
            return dict(rows[0]._mapping) if rows and rows[0].state == "failed" else None

        until(lambda: failed() is not None, "the email delivery to fail")
        row = failed()
        assert row is not None and row["attempts"] == 1
        assert "may read prod/shop/cart:1.0" in row["error"]
    finally:
        running.stop()

"""The audit log: changes recorded in their own transaction, refusals through a background
writer that drops rather than blocks when its queue is full (docs/access.md, "Audit events")."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tidegate.auth.principals import Principal
from tidegate.db import Database
from tidegate.services import audit as audit_module
from tidegate.services.audit import Actor, AuditLog

ADMIN = Actor(Principal("user", "admin", True, 1), "192.0.2.10")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def audit(db: Database) -> Iterator[AuditLog]:
    log = AuditLog(db)
    yield log
    log.flush(timeout=60)


def test_a_change_is_recorded_in_its_transaction(db: Database, audit: AuditLog) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    with db.transaction() as conn:
        audit.record(conn, ADMIN, "user.created", "alice", {"groups": ["developers"]})

    [event] = audit.query()
    assert event.actor == "admin"
    assert event.address == "192.0.2.10"
    assert event.action == "user.created"
    assert event.target == "alice"
    assert event.outcome == "ok"
    assert event.reason is None
    assert event.detail == {"groups": ["developers"]}
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
    assert before <= at <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_change_that_rolls_back_leaves_no_audit_row(db: Database, audit: AuditLog) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn:
        audit.record(conn, ADMIN, "group.deleted", "testers")
        raise RuntimeError("the change failed")

    assert audit.query() == []


def test_an_actor_without_an_address(db: Database, audit: AuditLog) -> None:
    with db.transaction() as conn:
        audit.record(conn, Actor(Principal("user", "admin", True, 1)), "group.created", "ops")

    [event] = audit.query()
    assert event.address is None
    assert event.detail is None


def test_refusals_reach_the_table_after_flush(audit: AuditLog) -> None:
    audit.refused("mallory", "198.51.100.9", "login.failed", None, "invalid username or password")
    audit.refused("bob", "192.0.2.3", "access.refused", "prod/shop/cart", "needs deploy")

    audit.flush(timeout=60)

    newest, oldest = audit.query()
    assert (oldest.actor, oldest.address, oldest.action) == (
        "mallory",
        "198.51.100.9",
        "login.failed",
    )
    assert (oldest.outcome, oldest.reason, oldest.target) == (
        "refused",
        "invalid username or password",
        None,
    )
    assert (newest.actor, newest.action, newest.target) == (
        "bob",
        "access.refused",
        "prod/shop/cart",
    )
    assert newest.outcome == "refused"


def test_refusals_after_a_flush_are_written_too(audit: AuditLog) -> None:
    audit.refused("a", None, "login.failed", None, "wrong")
    audit.flush(timeout=60)
    audit.refused("b", None, "login.failed", None, "wrong")
    audit.flush(timeout=60)

    assert [e.actor for e in audit.query()] == ["b", "a"]


def test_query_filters_newest_first(db: Database, audit: AuditLog) -> None:
    with db.transaction() as conn:
        audit.record(conn, ADMIN, "user.created", "alice")
        audit.record(conn, ADMIN, "group.created", "ops")
        audit.record(conn, ADMIN, "user.deleted", "alice")
    audit.refused("bob", None, "access.refused", "dev/shop/cart", "needs deploy")
    audit.refused("bob", None, "access.refused", "devx/app", "needs read")
    audit.flush(timeout=60)

    assert [e.action for e in audit.query(action="user")] == ["user.deleted", "user.created"]
    assert [e.action for e in audit.query(action="user.*")] == ["user.deleted", "user.created"]
    assert [e.action for e in audit.query(action="user.deleted")] == ["user.deleted"]
    assert [e.target for e in audit.query(actor="bob")] == ["devx/app", "dev/shop/cart"]
    assert [e.target for e in audit.query(repo="dev")] == ["dev/shop/cart"]
    assert len(audit.query(limit=2)) == 2
    assert audit.query(since=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(audit.query(since=datetime.now(UTC) - timedelta(hours=1))) == 5


def test_a_full_queue_drops_refusals_instead_of_blocking(
    tmp_path: Path, db: Database, audit: AuditLog
) -> None:
    """While the database is busy the writer cannot drain its queue; a flood of refusals must
    neither block the requests that report them nor grow without bound."""
    capacity = audit_module._QUEUE_MAX
    flood = capacity + 2_000
    blocker = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer waits
    reported = threading.Event()

    def report() -> None:
        for i in range(flood):
            audit.refused(f"guesser-{i}", "203.0.113.5", "login.failed", None, "wrong")
        reported.set()

    with capture_logs() as logs:
        reporter = threading.Thread(target=report)
        try:
            reporter.start()
            reporter.join(timeout=60)  # a hang detector, not a timing: it finishes in ms
            finished_while_busy = reported.is_set()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
            reporter.join()
    audit.flush(timeout=60)

    assert finished_while_busy, "refused() blocked while the audit queue was full"
    with db.read() as conn:
        written = conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar_one()
    assert capacity <= written < flood  # the queue's worth (and a batch in flight) kept
    assert any(e["event"] == "audit queue full, refusals dropped" for e in logs), logs

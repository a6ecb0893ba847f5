"""The audit log: who did what, when, from where, with which outcome.

Changes are recorded by the service that makes them, in the same transaction (``record``), so
a change and its audit row commit or vanish together. Refusals (a 403, a failed login) happen
on request paths that must stay fast and that an attacker can flood: ``refused`` queues them
for a background writer that inserts in batches; when the queue is full, refusals are counted
and dropped rather than slowing the registry down.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection

from tidegate.auth.principals import Principal
from tidegate.db import Database
from tidegate.db import audit as audit_q
from tidegate.db.records import AuditRecord

log = structlog.get_logger("tidegate.audit")

_QUEUE_MAX = 10_000
_BATCH = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, and from where (for the audit log)."""

    principal: Principal
    address: str | None = None

    @property
    def name(self) -> str:
        return self.principal.name


def _event(
    actor: str,
    address: str | None,
    action: str,
    target: str | None,
    outcome: str,
    reason: str | None,
    detail: Any,
) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC),
        "actor": actor[:128],
        "address": (address or None) and address[:64],
        "action": action,
        "target": target[:512] if target else None,
        "outcome": outcome,
        "reason": reason,
        "detail": detail,
    }


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(_QUEUE_MAX)
        self._dropped = 0
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # --- changes (in the caller's transaction) ------------------------------------------------

    def record(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        target: str | None = None,
        detail: Any = None,
        refused: str | None = None,
    ) -> None:
        """``refused``: the reason, for a refusal recorded in its own transaction (a gate's)."""
        outcome = "refused" if refused else "ok"
        audit_q.append(
            conn, [_event(actor.name, actor.address, action, target, outcome, refused, detail)]
        )

    # --- refusals (queued) ---------------------------------------------------------------------

    def refused(
        self,
        actor: str,
        address: str | None,
        action: str,
        target: str | None,
        reason: str,
        detail: Any = None,
    ) -> None:
        self._ensure_writer()
        event = _event(actor, address, action, target, "refused", reason, detail)
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._dropped += 1
            if self._dropped in (1, 100, 10_000) or self._dropped % 100_000 == 0:
                log.warning("audit queue full, refusals dropped", dropped=self._dropped)

    def _ensure_writer(self) -> None:
        if self._writer is not None:
            return
        with self._start_lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="tidegate-audit", daemon=True
                )
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                with self._db.transaction() as conn:
                    audit_q.append(conn, batch)
            except Exception:
                log.exception("audit write failed", events=len(batch))
            if stop:
                return

    def flush(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop the writer (on shutdown)."""
        writer = self._writer
        if writer is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("audit queue still full at shutdown", queued=self._queue.qsize())
            return
        writer.join(timeout)
        self._writer = None

    # --- reading -------------------------------------------------------------------------------

    def query(
        self,
        actor: str | None = None,
        action: str | None = None,
        repo: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        until: datetime | None = None,
        outcome: str | None = None,
    ) -> list[AuditRecord]:
        with self._db.read() as conn:
            return audit_q.search(
                conn, actor, action, repo, since, max(1, min(limit, 10_000)), until, outcome
            )

    def export_page(
        self,
        after_id: int,
        actor: str | None = None,
        action: str | None = None,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcome: str | None = None,
        page: int = 1000,
    ) -> list[AuditRecord]:
        """The next ``page`` records after ``after_id``, oldest first (an export walks these
        pages, so it never holds the whole log in memory)."""
        with self._db.read() as conn:
            return audit_q.search(
                conn, actor, action, repo, since, page, until, outcome, after_id=after_id
            )

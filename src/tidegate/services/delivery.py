"""The delivery worker: outbox events out to webhooks and email, once per deployment.

Every server process runs one (a thread, started with the app). Each poll it
1. fans new outbox events out into ``deliveries`` (one per matching subscription), under a
   lock on the cursor row, so each event is fanned out once;
2. claims due deliveries with a lease (a conditional UPDATE per row: one process wins);
3. sends them from a small pool of threads: a slow or dead receiver holds one sender thread
   for at most ``events.timeout`` seconds and never a request, a push or a promotion, which
   only wrote the outbox row in their own transaction.
A failed attempt is retried after ``backoff * 2^(attempt-1)`` seconds (capped at
``backoff_max``) until ``max_attempts``; then the delivery is ``failed`` (redeliver on
request). A process that dies mid-send loses its lease when it expires and another one sends.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import httpx
import structlog

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.config import EventSettings, SmtpSettings
from tidegate.db import Database
from tidegate.db import events as events_q
from tidegate.db.events import Claimed, Recipient
from tidegate.services.events import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    cloud_event,
    encode,
    sign,
)
from tidegate.services.metrics import Metrics

log = structlog.get_logger("tidegate.events")

_ERROR_MAX = 500


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        settings: EventSettings,
        source: str,
        smtp: SmtpSettings | None,
        metrics: Metrics,
        evaluator: PermissionEvaluator,
    ) -> None:
        self._db = db
        self._evaluator = evaluator
        self._settings = settings
        self._source = source
        self._smtp = smtp
        self._metrics = metrics
        self._holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lease = settings.timeout + (smtp.timeout if smtp else 0) + 30
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight = threading.Semaphore(settings.senders)
        self._http: httpx.Client | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._http = httpx.Client(
            timeout=self._settings.timeout,
            follow_redirects=False,
            headers={"User-Agent": "Tidegate-Hookshot/1"},
        )
        self._pool = ThreadPoolExecutor(self._settings.senders, thread_name_prefix="tidegate-send")
        self._thread = threading.Thread(target=self._loop, name="tidegate-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            self._http.close()

    def wake(self) -> None:
        """Look now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("event delivery round failed")
            self._wake.wait(self._settings.poll_interval)
            self._wake.clear()

    # --- one round ---------------------------------------------------------------------------

    def run_once(self) -> None:
        with self._db.read() as conn:
            fresh = events_q.pending_events(conn)
        while fresh:
            with self._db.transaction(bump=False) as conn:
                taken = events_q.fan_out(conn)
            if taken:
                self._metrics.events_fanned_out.inc(taken)
            fresh = taken >= 500
        now = time.time()
        with self._db.read() as conn:
            due = events_q.any_due(conn, now)
        if not due:
            return
        free = 0
        while self._in_flight.acquire(blocking=False):
            free += 1
        if not free:
            return
        won: list[int] = []
        try:
            with self._db.transaction(bump=False) as conn:
                won = events_q.claim(conn, self._holder, now, self._lease, free)
        finally:  # the slots no claimed delivery took (all of them if the claim failed)
            for _ in range(free - len(won)):
                self._in_flight.release()
        assert self._pool is not None
        for delivery_id in won:
            self._pool.submit(self._send, delivery_id)

    def _send(self, delivery_id: int) -> None:
        try:
            with self._db.read() as conn:
                claimed = events_q.load_claimed(conn, delivery_id)
            if claimed is None:
                return
            if claimed.webhook is not None:
                attempt = self._post(claimed)
                kind = "webhook"
            elif claimed.notification is not None:
                attempt = self._mail(claimed)
                kind = "email"
            else:
                return
            self._finish(claimed, kind, attempt)
        except Exception:
            log.exception("event delivery failed", delivery=delivery_id)
        finally:
            self._in_flight.release()

    def _finish(self, claimed: Claimed, kind: str, attempt: dict[str, Any]) -> None:
        number = claimed.attempts + 1
        ok = attempt["outcome"] == "succeeded"
        retry = not ok and attempt.pop("retry", True) and number < self._settings.max_attempts
        attempt.pop("retry", None)
        state = "succeeded" if ok else ("pending" if retry else "failed")
        delay = min(self._settings.backoff * 2 ** (number - 1), self._settings.backoff_max)
        next_at = time.time() + delay if retry else None
        with self._db.transaction(bump=False) as conn:
            kept = events_q.record_attempt(conn, claimed.id, self._holder, attempt, state, next_at)
        self._metrics.deliveries.labels(kind, attempt["outcome"]).inc()
        log.info(
            "event delivery attempt",
            delivery=claimed.id,
            event_id=claimed.event["id"],
            kind=kind,
            outcome=attempt["outcome"],
            response_code=attempt["response_code"],
            duration_ms=round(attempt["duration_ms"], 1),
            state=state if kept else "lease lost",
            retry_in=round(delay, 1) if retry else None,
        )

    # --- webhooks ----------------------------------------------------------------------------

    def _post(self, claimed: Claimed) -> dict[str, Any]:
        assert claimed.webhook is not None and self._http is not None
        body = encode(cloud_event(self._source, claimed.event))
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            SIGNATURE_HEADER: sign(claimed.webhook["secret"], body),
            DELIVERY_HEADER: str(claimed.id),
            "X-Tidegate-Event": str(claimed.event["type"]),
        }
        started = time.monotonic()
        at = time.time()
        code: int | None = None
        error: str | None = None
        try:
            response = self._http.post(claimed.webhook["url"], content=body, headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"the receiver answered {code}"
        except httpx.TimeoutException:
            error = f"no answer within {self._settings.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        return {
            "at": at,
            "outcome": "succeeded" if error is None else "failed",
            "response_code": code,
            "duration_ms": (time.monotonic() - started) * 1000,
            "error": error,
            "redelivery": claimed.redelivery,
        }

    # --- email -------------------------------------------------------------------------------

    def _mail(self, claimed: Claimed) -> dict[str, Any]:
        assert claimed.notification is not None
        started = time.monotonic()
        at = time.time()
        group = str(claimed.notification["group_name"])
        result: dict[str, Any] = {
            "at": at,
            "outcome": "failed",
            "response_code": None,
            "error": None,
            "redelivery": claimed.redelivery,
        }
        with self._db.read() as conn:
            members = events_q.group_recipients(conn, group)
        recipients = [m.email for m in members if self._may_read(m, claimed.event)]
        if self._smtp is None:
            result["error"] = "no smtp server is configured (smtp: in the config file)"
            result["retry"] = False
        elif not members:
            result["error"] = f"no member of group {group!r} has an email address"
            result["retry"] = False
        elif not recipients:
            result["error"] = (
                f"no member of group {group!r} with an email address may read"
                f" {claimed.event['subject']}"
            )
            result["retry"] = False
        else:
            try:
                result["response_code"] = self._smtp_send(self._smtp, recipients, claimed)
                result["outcome"] = "succeeded"
            except (smtplib.SMTPException, OSError) as exc:
                result["error"] = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        result["duration_ms"] = (time.monotonic() - started) * 1000
        return result

    def _may_read(self, member: Recipient, event: dict[str, Any]) -> bool:
        """Whether ``member`` may read what the event tells of: its image (``read`` on it), a
        whole repository (``read`` on every image) or, for events naming no repository
        (``gc.completed``), nothing anyone could not see. Mail is content: a group member
        who cannot pull an image must not learn its digest or gate evaluation by email."""
        principal = Principal(member.kind, member.name, member.is_admin, member.id)
        data = event["data"] if isinstance(event["data"], dict) else {}
        repository, image = data.get("repository"), data.get("image")
        if not repository:
            return True
        if image:
            return self._evaluator.allowed(principal, str(repository), str(image), Action.READ)
        return self._evaluator.allowed_everywhere(principal, str(repository), Action.READ)

    def _smtp_send(self, smtp: SmtpSettings, recipients: list[str], claimed: Claimed) -> int:
        event = claimed.event
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = f"[tidegate] {event['type']}: {event['subject']}"
        message["X-Tidegate-Event"] = str(event["type"])
        message["X-Tidegate-Delivery"] = str(claimed.id)
        data = event["data"] if isinstance(event["data"], dict) else {}
        lines = [f"{event['type']}: {event['subject']}", ""]
        lines += [f"{k}: {v}" for k, v in data.items() if not isinstance(v, (dict, list))]
        lines += ["", f"Sent by Tidegate at {self._source}; the event as JSON:", ""]
        lines.append(encode(cloud_event(self._source, event)).decode())
        message.set_content("\n".join(lines))
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username is not None and smtp.password is not None:
                client.login(smtp.username, smtp.password.get_secret_value())
            client.send_message(message)
            code, _ = client.noop()
        return int(code)

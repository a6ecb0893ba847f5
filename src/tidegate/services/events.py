"""Event subscriptions: webhooks (a URL, signed deliveries) and email notifications (a group),
their deliveries and redelivery; and the CloudEvents 1.0 form of an outbox event.

Who may subscribe: an admin to anything; anyone else with ``manage`` on every image of every
repository the subscription lists, and for a webhook ``read`` too (a subscription to every
repository is for admins). Email is filtered per recipient when sent (services/delivery.py).
Virtual repositories are refused: events name the local or remote repository. Webhook secrets
are stored and used to sign, never returned or logged: views say ``secret_set``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action
from tidegate.db import Database
from tidegate.db import events as events_q
from tidegate.db import repositories as repo_q
from tidegate.db import users as user_q
from tidegate.errors import Denied, InvalidRequest, NotFound
from tidegate.services.audit import Actor, AuditLog

# Every event type the registry publishes (PRODUCT.md §7; docs/events.md).
EVENT_TYPES = (
    "image.pushed",
    "image.deleted",
    "tag.moved",
    "image.promoted",
    "promotion.refused",
    "properties.changed",
    "cleanup.applied",
    "trash.restored",
    "gc.completed",
    "quota.exceeded",
)
SIGNATURE_HEADER = "X-Tidegate-Signature"
DELIVERY_HEADER = "X-Tidegate-Delivery"
MAX_SECRET = 256


def sign(secret: str, body: bytes) -> str:
    """The ``X-Tidegate-Signature`` value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iso(value: Any) -> str:
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(value.isoformat()).replace("+00:00", "Z")
    return str(value)


def cloud_event(source: str, event: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 JSON of an outbox row (``id``, ``created_at``, ``type``,
    ``subject``, ``data``)."""
    return {
        "specversion": "1.0",
        "id": str(event["id"]),
        "source": source,
        "type": f"io.tidegate.{event['type']}",
        "subject": event["subject"],
        "time": _iso(event["created_at"]),
        "datacontenttype": "application/json",
        "data": event["data"],
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


@dataclass(frozen=True, slots=True)
class WebhookView:
    id: int
    url: str
    events: list[str]
    repositories: list[str]
    active: bool
    description: str | None
    secret_set: bool
    created_by: str
    created_at: str


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    group: str
    events: list[str]
    repositories: list[str]
    created_by: str
    created_at: str


def _webhook_view(row: dict[str, Any]) -> WebhookView:
    return WebhookView(
        int(row["id"]),
        str(row["url"]),
        list(row["events"]),
        list(row["repositories"]),
        bool(row["active"]),
        row["description"],
        bool(row["secret"]),
        str(row["created_by"]),
        _iso(row["created_at"]),
    )


def _notification_view(row: dict[str, Any]) -> NotificationView:
    return NotificationView(
        int(row["id"]),
        str(row["group_name"]),
        list(row["events"]),
        list(row["repositories"]),
        str(row["created_by"]),
        _iso(row["created_at"]),
    )


def _delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    def times(r: dict[str, Any], *keys: str) -> dict[str, Any]:
        return {k: (_iso(r[k]) if r.get(k) is not None else None) for k in keys}

    attempts = [
        {
            **times(a, "at"),
            "outcome": a["outcome"],
            "response_code": a["response_code"],
            "duration_ms": round(float(a["duration_ms"]), 3),
            "error": a["error"],
            "redelivery": bool(a["redelivery"]),
        }
        for a in row.get("attempt_log", [])
    ]
    return {
        "id": int(row["id"]),
        "event_id": int(row["event_id"]),
        "event_type": row.get("event_type"),
        "subject": row.get("subject"),
        "state": row["state"],
        "attempts": len(attempts),
        "response_code": row["response_code"],
        "duration_ms": None if row["duration_ms"] is None else round(row["duration_ms"], 3),
        "error": row["error"],
        **times(row, "created_at", "last_attempt_at", "next_attempt_at"),
        "attempt_log": attempts,
    }


def check_events(types: list[str]) -> list[str]:
    if not types:
        raise InvalidRequest(f"events: name at least one of {', '.join(EVENT_TYPES)} (or *)")
    unknown = [t for t in types if t != "*" and t not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest(
            f"events: unknown type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
            " (or * for all)"
        )
    return sorted(set(types))


def check_secret(secret: str) -> str:
    """16 to 256 printable characters: a secret of control characters (NULs, escapes) is a
    mistake (a binary file piped in), and many receivers cannot even configure it."""
    if not 16 <= len(secret) <= MAX_SECRET:
        raise InvalidRequest(f"secret: must be 16 to {MAX_SECRET} characters")
    if not secret.isprintable():
        raise InvalidRequest("secret: must be printable characters (no control characters)")
    return secret


def check_url(url: str) -> str:
    try:  # urlsplit refuses an unclosed "[" and .port one out of 0-65535: both ValueError
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"url: not a valid URL ({exc})") from None
    if port == 0:
        raise InvalidRequest("url: port 0 is not a port one can send to")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("url: must be an http(s) URL such as https://ci.example.com/hook")
    if parts.username or parts.password:
        raise InvalidRequest("url: must not contain credentials; the secret signs each delivery")
    return url


class EventService:
    def __init__(self, db: Database, evaluator: PermissionEvaluator, audit: AuditLog) -> None:
        self._db = db
        self._evaluator = evaluator
        self._audit = audit

    # --- who may -----------------------------------------------------------------------------

    def _check_scope(self, actor: Actor, repositories: list[str], what: str) -> list[str]:
        with self._db.read() as conn:
            known = {r.key: r for r in repo_q.list_all(conn)}
        unknown = sorted(set(repositories) - set(known))
        if unknown:
            raise InvalidRequest(f"repositories: unknown repository key(s) {', '.join(unknown)}")
        # Events name the local or remote repository the change happened in, never a virtual
        # one: a subscription on a virtual would never fire.
        for key in sorted(set(repositories)):
            if known[key].kind == "virtual":
                members = ", ".join(known[key].options.get("members") or []) or "its members"
                raise InvalidRequest(
                    f"repositories: {key} is virtual and its events name the repository they"
                    f" happen in; subscribe to its members instead: {members}"
                )
        if actor.principal.is_admin:
            return sorted(set(repositories))
        if not repositories:
            raise Denied(f"a {what} for every repository is for admins: list repositories")
        # A webhook receives every image of its repositories with no one in between, so its
        # creator must also read every image of them; email is filtered per recipient at
        # delivery (services/delivery.py), so a notification needs manage only.
        needed = (Action.MANAGE, Action.READ) if what == "webhook" else (Action.MANAGE,)
        refused = [
            r
            for r in repositories
            if not all(self._evaluator.allowed_everywhere(actor.principal, r, a) for a in needed)
        ]
        if refused:
            raise Denied(
                f"{actor.name} may not add a {what} on {', '.join(sorted(refused))}: that needs"
                f" {' and '.join(needed)} on every image of every repository listed"
            )
        return sorted(set(repositories))

    def _may_see(self, actor: Actor, repositories: list[str]) -> bool:
        if actor.principal.is_admin:
            return True
        return bool(repositories) and all(
            self._evaluator.allowed_everywhere(actor.principal, r, Action.MANAGE)
            for r in repositories
        )

    def _webhook(self, actor: Actor, webhook_id: int) -> dict[str, Any]:
        with self._db.read() as conn:
            row = events_q.get_webhook(conn, webhook_id)
        if row is None or not self._may_see(actor, list(row["repositories"])):
            raise NotFound(f"no webhook {webhook_id}")
        return row

    # --- webhooks ----------------------------------------------------------------------------

    def create_webhook(
        self,
        actor: Actor,
        url: str,
        events: list[str],
        repositories: list[str],
        secret: str,
        description: str | None = None,
    ) -> WebhookView:
        check_url(url)
        types = check_events(events)
        check_secret(secret)
        repos = self._check_scope(actor, repositories, "webhook")
        values = {
            "url": url,
            "events": types,
            "repositories": repos,
            "secret": secret,
            "active": True,
            "description": description,
            "created_by": actor.name,
        }
        with self._db.transaction() as conn:
            new_id = events_q.create_webhook(conn, values)
            detail = {"url": url, "events": types, "repositories": repos}
            self._audit.record(conn, actor, "webhook.created", f"webhook/{new_id}", detail)
            row = events_q.get_webhook(conn, new_id)
        assert row is not None
        return _webhook_view(row)

    def list_webhooks(self, actor: Actor) -> list[WebhookView]:
        with self._db.read() as conn:
            rows = events_q.list_webhooks(conn)
        return [_webhook_view(r) for r in rows if self._may_see(actor, list(r["repositories"]))]

    def get_webhook(self, actor: Actor, webhook_id: int) -> WebhookView:
        return _webhook_view(self._webhook(actor, webhook_id))

    def update_webhook(self, actor: Actor, webhook_id: int, changes: dict[str, Any]) -> WebhookView:
        self._webhook(actor, webhook_id)
        values: dict[str, Any] = {}
        if changes.get("url") is not None:
            values["url"] = check_url(changes["url"])
        if changes.get("events") is not None:
            values["events"] = check_events(changes["events"])
        if changes.get("repositories") is not None:
            values["repositories"] = self._check_scope(actor, changes["repositories"], "webhook")
        if changes.get("secret") is not None:
            values["secret"] = check_secret(changes["secret"])
        for key in ("active", "description"):
            if changes.get(key) is not None:
                values[key] = changes[key]
        with self._db.transaction() as conn:
            events_q.update_webhook(conn, webhook_id, values)
            changed = sorted(values)
            self._audit.record(
                conn, actor, "webhook.updated", f"webhook/{webhook_id}", {"changed": changed}
            )
            row = events_q.get_webhook(conn, webhook_id)
        assert row is not None
        return _webhook_view(row)

    def delete_webhook(self, actor: Actor, webhook_id: int) -> None:
        self._webhook(actor, webhook_id)
        with self._db.transaction() as conn:
            events_q.delete_webhook(conn, webhook_id)
            self._audit.record(conn, actor, "webhook.deleted", f"webhook/{webhook_id}")

    def deliveries(self, actor: Actor, webhook_id: int, limit: int = 100) -> list[dict[str, Any]]:
        self._webhook(actor, webhook_id)
        with self._db.read() as conn:
            rows = events_q.list_deliveries(conn, webhook_id, max(1, min(limit, 1000)))
        return [_delivery_view(r) for r in rows]

    def redeliver(self, actor: Actor, webhook_id: int, delivery_id: int) -> dict[str, Any]:
        self._webhook(actor, webhook_id)
        with self._db.transaction(bump=False) as conn:
            row = events_q.get_delivery(conn, delivery_id)
            if row is None or row["webhook_id"] != webhook_id:
                raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
            events_q.redeliver(conn, delivery_id, time.time())
            self._audit.record(
                conn,
                actor,
                "webhook.redelivered",
                f"webhook/{webhook_id}",
                {"delivery": delivery_id},
            )
        return {"id": delivery_id, "state": "pending"}

    # --- email notifications -----------------------------------------------------------------

    def create_notification(
        self, actor: Actor, group: str, events: list[str], repositories: list[str]
    ) -> NotificationView:
        types = check_events(events)
        repos = self._check_scope(actor, repositories, "notification")
        with self._db.transaction() as conn:
            if user_q.get_group(conn, group) is None:
                raise InvalidRequest(f"group: no group named {group!r}")
            new_id = events_q.create_notification(
                conn,
                {
                    "group_name": group,
                    "events": types,
                    "repositories": repos,
                    "created_by": actor.name,
                },
            )
            detail = {"group": group, "events": types, "repositories": repos}
            self._audit.record(
                conn, actor, "notification.created", f"notification/{new_id}", detail
            )
            row = events_q.get_notification(conn, new_id)
        assert row is not None
        return _notification_view(row)

    def list_notifications(self, actor: Actor) -> list[NotificationView]:
        with self._db.read() as conn:
            rows = events_q.list_notifications(conn)
        return [
            _notification_view(r) for r in rows if self._may_see(actor, list(r["repositories"]))
        ]

    def delete_notification(self, actor: Actor, notification_id: int) -> None:
        with self._db.transaction() as conn:
            row = events_q.get_notification(conn, notification_id)
            if row is None or not self._may_see(actor, list(row["repositories"])):
                raise NotFound(f"no notification {notification_id}")
            events_q.delete_notification(conn, notification_id)
            self._audit.record(
                conn, actor, "notification.deleted", f"notification/{notification_id}"
            )

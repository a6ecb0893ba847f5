"""``/api/v1/webhooks`` and ``/api/v1/notifications``: event subscriptions (docs/events.md).

Admins, or callers with ``manage`` (webhooks: and ``read``) on every image of every repository
a subscription lists. Secrets are write-only: answers say ``secret_set``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import RowId, Strict
from tidegate.services.events import NotificationView, WebhookView

router = APIRouter(prefix="/api/v1", tags=["events"])


class Webhook(Strict):
    id: int
    url: str
    events: list[str]
    repositories: list[str]
    active: bool
    description: str | None
    secret_set: bool
    created_by: str
    created_at: str

    @classmethod
    def of(cls, view: WebhookView) -> Webhook:
        return cls.model_validate(view, from_attributes=True)


class WebhookCreate(Strict):
    url: str
    events: list[str]
    repositories: list[str] = []
    secret: str = Field(description="16 to 256 characters; signs every delivery")
    description: str | None = None


class WebhookUpdate(Strict):
    """Only the fields present change."""

    url: str | None = None
    events: list[str] | None = None
    repositories: list[str] | None = None
    secret: str | None = None
    active: bool | None = None
    description: str | None = None


class Notification(Strict):
    id: int
    group: str
    events: list[str]
    repositories: list[str]
    created_by: str
    created_at: str

    @classmethod
    def of(cls, view: NotificationView) -> Notification:
        return cls.model_validate(view, from_attributes=True)


class NotificationCreate(Strict):
    group: str
    events: list[str]
    repositories: list[str] = []


@router.post("/webhooks", status_code=201)
async def create_webhook(body: WebhookCreate, api: Api, caller: Caller) -> Webhook:
    view = await call(
        api.events.create_webhook,
        caller,
        body.url,
        body.events,
        body.repositories,
        body.secret,
        body.description,
    )
    return Webhook.of(view)


@router.get("/webhooks")
async def list_webhooks(api: Api, caller: Caller) -> list[Webhook]:
    return [Webhook.of(v) for v in await call(api.events.list_webhooks, caller)]


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: RowId, api: Api, caller: Caller) -> Webhook:
    return Webhook.of(await call(api.events.get_webhook, caller, webhook_id))


@router.patch("/webhooks/{webhook_id}")
async def update_webhook(
    webhook_id: RowId, body: WebhookUpdate, api: Api, caller: Caller
) -> Webhook:
    changes = body.model_dump(exclude_unset=True)
    return Webhook.of(await call(api.events.update_webhook, caller, webhook_id, changes))


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: RowId, api: Api, caller: Caller) -> Response:
    await call(api.events.delete_webhook, caller, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries")
async def list_deliveries(
    webhook_id: RowId,
    api: Api,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Newest first: state, attempts, last response code and duration, and every attempt."""
    return await call(api.events.deliveries, caller, webhook_id, limit)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver(
    webhook_id: RowId, delivery_id: RowId, api: Api, caller: Caller
) -> dict[str, Any]:
    """Send the delivery again (same event, same delivery id), with a fresh budget of retries."""
    return await call(api.events.redeliver, caller, webhook_id, delivery_id)


@router.post("/notifications", status_code=201)
async def create_notification(body: NotificationCreate, api: Api, caller: Caller) -> Notification:
    view = await call(
        api.events.create_notification, caller, body.group, body.events, body.repositories
    )
    return Notification.of(view)


@router.get("/notifications")
async def list_notifications(api: Api, caller: Caller) -> list[Notification]:
    return [Notification.of(v) for v in await call(api.events.list_notifications, caller)]


@router.delete("/notifications/{notification_id}", status_code=204)
async def delete_notification(notification_id: RowId, api: Api, caller: Caller) -> Response:
    await call(api.events.delete_notification, caller, notification_id)
    return Response(status_code=204)

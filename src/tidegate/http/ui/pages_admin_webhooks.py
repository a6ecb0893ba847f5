"""Pages: webhooks (``/ui/admin/webhooks``) — list, create, pause and enable, delete, and the
delivery log of each (state, response code, duration, attempts) with a redeliver button.
The secret is write-only: the API answers ``secret_set`` and so do these pages."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from tidegate.http.ui.client import ApiError
from tidegate.http.ui.formtext import items
from tidegate.http.ui.pages import Ui, UiConfig, number_param, redirect, refusal, route_makers
from tidegate.services.events import EVENT_TYPES


def show_list(
    ui: Ui, hooks: list[dict[str, Any]], typed: dict[str, Any], error: str | None
) -> Response:
    return ui.render(
        "admin/webhooks.html",
        status=400 if error else 200,
        nav="admin",
        hooks=hooks,
        event_types=EVENT_TYPES,
        typed=typed,
        error=error,
    )


async def webhooks(ui: Ui) -> Response:
    return show_list(ui, await ui.api.get("/webhooks"), {"events": []}, None)


async def create_webhook(ui: Ui) -> Response:
    body = {
        "url": ui.field("url"),
        "secret": ui.field("secret"),
        "events": ui.fields("events"),
        "repositories": items(ui.field("repositories")),
        "description": ui.field("description") or None,
    }
    try:
        created = await ui.api.post("/webhooks", body)
    except ApiError as exc:
        message = refusal(exc)
        typed = {k: v for k, v in body.items() if k != "secret"}  # never echoed back
        typed["repositories"] = ui.field("repositories")
        return show_list(ui, await ui.api.get("/webhooks"), typed, message)
    return redirect(ui, f"/ui/admin/webhooks/{created['id']}", f"webhook {created['id']} created")


async def webhook(ui: Ui) -> Response:
    hook_id = number_param(ui, "webhook_id", "webhook")
    hook = await ui.api.get(f"/webhooks/{hook_id}")
    deliveries = await ui.api.get(f"/webhooks/{hook_id}/deliveries", limit=100)
    return ui.render("admin/webhook.html", nav="admin", hook=hook, deliveries=deliveries)


async def set_active(ui: Ui) -> Response:
    hook_id = number_param(ui, "webhook_id", "webhook")
    active = ui.field("active") == "true"
    await ui.api.patch(f"/webhooks/{hook_id}", {"active": active})
    said = "enabled" if active else "paused"
    return redirect(ui, f"/ui/admin/webhooks/{hook_id}", f"webhook {hook_id} {said}")


async def delete_webhook(ui: Ui) -> Response:
    hook_id = number_param(ui, "webhook_id", "webhook")
    await ui.api.delete(f"/webhooks/{hook_id}")
    return redirect(ui, "/ui/admin/webhooks", f"webhook {hook_id} deleted")


async def redeliver(ui: Ui) -> Response:
    hook_id = number_param(ui, "webhook_id", "webhook")
    delivery_id = number_param(ui, "delivery_id", "delivery")
    await ui.api.post(f"/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver")
    return redirect(
        ui, f"/ui/admin/webhooks/{hook_id}", f"delivery {delivery_id} queued to be sent again"
    )


def routes(config: UiConfig) -> list[BaseRoute]:
    get, post = route_makers(config, admin=True)

    one = "/admin/webhooks/{webhook_id}"  # a number: number_param (no :int, it takes any length)
    return [
        get("/admin/webhooks", webhooks),
        post("/admin/webhooks", create_webhook),
        get(one, webhook),
        post(one + "/active", set_active),
        post(one + "/delete", delete_webhook),
        post(one + "/deliveries/{delivery_id}/redeliver", redeliver),
    ]

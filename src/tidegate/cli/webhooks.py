"""``tidegate webhook`` and ``tidegate notify``: event subscriptions (docs/events.md)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, done, show_list, show_one
from tidegate.cli.prompts import read_password

app = typer.Typer(no_args_is_help=True, help="Webhooks: signed event deliveries over HTTP.")
notify_app = typer.Typer(no_args_is_help=True, help="Email notifications to a group.")

COLUMNS = ("id", "url", "events", "repositories", "active", "secret_set")
DELIVERY_COLUMNS = (
    "id",
    "event_type",
    "subject",
    "state",
    "attempts",
    "response_code",
    "duration_ms",
    "error",
    "last_attempt_at",
)
NOTIFY_COLUMNS = ("id", "group", "events", "repositories", "created_by")

EventOption = Annotated[
    list[str],
    typer.Option("--event", "-e", help="Event type, e.g. image.promoted, or * (repeatable)."),
]
RepoOption = Annotated[
    list[str] | None,
    typer.Option("--repo", "-r", help="Only events of this repository (repeatable; none: all)."),
]


@app.command()
def create(
    url: str,
    event: EventOption,
    repo: RepoOption = None,
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the signing secret from stdin.")
    ] = False,
    description: Annotated[str | None, typer.Option(help="What the webhook is for.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a webhook; the secret (16+ characters) comes from stdin or a prompt."""
    client = remote(server)
    secret = read_password(
        secret_stdin or not sys.stdin.isatty(), "Signing secret", what="signing secret"
    )
    body: dict[str, Any] = {"url": url, "events": event, "repositories": repo or []}
    body["secret"] = secret
    if description is not None:
        body["description"] = description
    show_one(client.call("POST", "/webhooks", body=body), as_json)


@app.command("list")
def list_webhooks(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List the webhooks you may see."""
    show_list(remote(server).call("GET", "/webhooks"), COLUMNS, as_json)


@app.command()
def show(webhook_id: int, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one webhook (the secret is never shown)."""
    show_one(remote(server).call("GET", f"/webhooks/{webhook_id}"), as_json)


@app.command()
def deliveries(
    webhook_id: int,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliveries of a webhook: state, attempts, response code, duration, error."""
    rows = remote(server).call(
        "GET", f"/webhooks/{webhook_id}/deliveries", params={"limit": str(limit)}
    )
    show_list(rows, DELIVERY_COLUMNS, as_json)


@app.command()
def redeliver(
    webhook_id: int, delivery_id: int, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Send a delivery again."""
    remote(server).call("POST", f"/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
    done(f"delivery {delivery_id} queued again", as_json, redelivered=delivery_id)


@app.command()
def delete(webhook_id: int, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Delete a webhook and its delivery records."""
    remote(server).call("DELETE", f"/webhooks/{webhook_id}")
    done(f"deleted webhook {webhook_id}", as_json, deleted=webhook_id)


@notify_app.command("create")
def notify_create(
    group: str,
    event: EventOption,
    repo: RepoOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Email the members of GROUP (those with an email address) on these events."""
    body = {"group": group, "events": event, "repositories": repo or []}
    show_one(remote(server).call("POST", "/notifications", body=body), as_json)


@notify_app.command("list")
def notify_list(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List email notifications."""
    show_list(remote(server).call("GET", "/notifications"), NOTIFY_COLUMNS, as_json)


@notify_app.command("delete")
def notify_delete(
    notification_id: int, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Stop an email notification."""
    remote(server).call("DELETE", f"/notifications/{notification_id}")
    done(f"deleted notification {notification_id}", as_json, deleted=notification_id)

"""``tidegate audit``: query the audit log, or export it as JSON lines (admin only)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tidegate.cli.client import EXIT_SERVER, CliError, ServerOption, remote
from tidegate.cli.output import JsonOption, show_list

COLUMNS = ("at", "actor", "address", "action", "target", "outcome", "reason")


def audit(
    since: Annotated[
        str | None, typer.Option(help="From this time on (ISO 8601, UTC without a zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this user or service account.")] = None,
    repo: Annotated[str | None, typer.Option(help="Only this repository (or repo/image).")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, or a family: user, image.*")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="ok or refused.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Export every match as JSON lines, oldest first.")
    ] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who did what, when, from where, with which outcome."""
    params = {
        k: v
        for k, v in {
            "since": since,
            "until": until,
            "actor": actor,
            "repo": repo,
            "action": action,
            "outcome": outcome,
        }.items()
        if v is not None
    }
    client = remote(server)
    if not jsonl:
        rows = client.call("GET", "/audit", params={**params, "limit": str(limit)})
        show_list(rows, COLUMNS, as_json)
        return
    import httpx

    headers = {"Authorization": client.authorization} if client.authorization else {}
    try:
        with httpx.stream(
            "GET",
            f"{client.url}/api/v1/audit",
            params={**params, "format": "jsonl"},
            headers=headers,
            timeout=client.timeout,
        ) as response:
            if response.status_code >= 400:
                response.read()
                client.raise_for(response)
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {client.url}: {exc}", EXIT_SERVER) from None
    sys.stdout.flush()

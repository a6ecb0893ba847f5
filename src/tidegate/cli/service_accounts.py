"""``tidegate sa``: service accounts (robots for CI and pull secrets; admin only on the server).

A service account has no password: create it, then ``tidegate token create NAME --principal SA``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, done, show_list, show_one

app = typer.Typer(no_args_is_help=True, help="Service accounts (admin only).")

COLUMNS = ("name", "groups", "disabled", "description", "created_at")


@app.command("list")
def list_accounts(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List service accounts."""
    show_list(remote(server).call("GET", "/service-accounts"), COLUMNS, as_json)


@app.command()
def show(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one service account."""
    show_one(remote(server).call("GET", f"/service-accounts/{name}"), as_json)


@app.command()
def create(
    name: str,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Group to belong to (repeatable).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the account is for.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a service account (then give it a token with `tidegate token create`)."""
    body: dict[str, Any] = {"name": name, "groups": group or []}
    if description is not None:
        body["description"] = description
    show_one(remote(server).call("POST", "/service-accounts", body=body), as_json)


@app.command()
def delete(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Delete a service account and its access tokens."""
    remote(server).call("DELETE", f"/service-accounts/{name}")
    done(f"deleted service account {name}", as_json, deleted=name)

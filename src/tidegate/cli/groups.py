"""``tidegate group``: groups and their members (admin only on the server)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, done, show_list, show_one

app = typer.Typer(no_args_is_help=True, help="Groups and members (admin only).")

COLUMNS = ("name", "description", "members")


@app.command("list")
def list_groups(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List groups with their members."""
    show_list(remote(server).call("GET", "/groups"), COLUMNS, as_json)


@app.command()
def show(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one group."""
    show_one(remote(server).call("GET", f"/groups/{name}"), as_json)


@app.command()
def create(
    name: str,
    member: Annotated[
        list[str] | None,
        typer.Option("--member", "-m", help="User or service account (repeatable)."),
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the group is for.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a group."""
    body: dict[str, Any] = {"name": name, "members": member or []}
    if description is not None:
        body["description"] = description
    show_one(remote(server).call("POST", "/groups", body=body), as_json)


@app.command()
def delete(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Delete a group (its grants in permission targets go with it)."""
    remote(server).call("DELETE", f"/groups/{name}")
    done(f"deleted group {name}", as_json, deleted=name)


@app.command()
def add(
    name: str, principal: str, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Add a user or service account to a group."""
    remote(server).call("PUT", f"/groups/{name}/members/{principal}")
    done(f"added {principal} to {name}", as_json, group=name, added=principal)


@app.command()
def remove(
    name: str, principal: str, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Remove a user or service account from a group."""
    remote(server).call("DELETE", f"/groups/{name}/members/{principal}")
    done(f"removed {principal} from {name}", as_json, group=name, removed=principal)

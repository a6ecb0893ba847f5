"""``tidegate gate``: a repository's gate (setting one needs ``manage`` on it)."""

from __future__ import annotations

from typing import Annotated

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, show_one

app = typer.Typer(no_args_is_help=True, help="Gates of repositories.")


@app.command()
def get(repo: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show the gate of a repository."""
    show_one(remote(server).call("GET", f"/repositories/{repo}/gate"), as_json)


@app.command("set")
def set_(
    repo: str,
    sources: Annotated[
        list[str] | None,
        typer.Option("--from", help="Allowed source: a key or stage:<name> (repeatable)."),
    ] = None,
    require: Annotated[
        list[str] | None,
        typer.Option("--require", help="k=v, k!=v, k, !k, referrer=<type> (repeatable)."),
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replace the gate of a repository (no options: no rules)."""
    body = {"from": sources or [], "require": require or []}
    show_one(remote(server).call("PUT", f"/repositories/{repo}/gate", body=body), as_json)

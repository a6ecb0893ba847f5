"""``tidegate token``: access tokens, yours or (admin) anyone's. The secret is printed once,
by ``create``, and never again."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, done, err, show_list, show_one

app = typer.Typer(no_args_is_help=True, help="Access tokens.")

COLUMNS = ("id", "name", "principal", "created_at", "expires_at", "revoked_at")

PrincipalOption = Annotated[
    str | None,
    typer.Option("--principal", "-p", help="Whose tokens (admin: any user or service account)."),
]


@app.command("list")
def list_tokens(
    principal: PrincipalOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Every principal's tokens (admin).")] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your access tokens (admin: --principal P or --all)."""
    params: dict[str, str] = {}
    if principal:
        params["principal"] = principal
    if all_:
        params["all"] = "true"
    show_list(remote(server).call("GET", "/tokens", params=params), COLUMNS, as_json)


@app.command()
def create(
    name: str,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", help="1 to 3650 (default 90).")
    ] = None,
    expires_in_hours: Annotated[
        int | None,
        typer.Option("--expires-in-hours", help="Instead of days: 1 to 87600 (short-lived)."),
    ] = None,
    principal: PrincipalOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an access token; it is shown only this once."""
    body: dict[str, Any] = {"name": name}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    if expires_in_hours is not None:
        body["expires_in_hours"] = expires_in_hours
    if principal:
        body["principal"] = principal
    created = remote(server).call("POST", "/tokens", body=body)
    show_one(created, as_json)
    if not as_json:
        err.print("Store the token now: it is not shown again.")


@app.command()
def revoke(token_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Revoke an access token by its id (the registry refuses it at once)."""
    remote(server).call("DELETE", f"/tokens/{token_id}")
    done(f"revoked token {token_id}", as_json, revoked=token_id)

"""``tidegate login`` and ``tidegate logout``: trade a password for an access token named
``cli-<hostname>`` once, keep it in ``~/.config/tidegate/cli.json``, revoke it on logout."""

from __future__ import annotations

import os
import re
import socket
from typing import Annotated, Any

import typer

from tidegate.cli.client import (
    EXIT_AUTH,
    EXIT_NOT_FOUND,
    CliError,
    Profile,
    Remote,
    basic,
    bearer,
    load_profile,
    normalize_url,
    remove_profile,
    save_profile,
)
from tidegate.cli.output import out
from tidegate.cli.prompts import read_password


def token_name() -> str:
    host = re.sub(r"[^a-z0-9._-]+", "-", socket.gethostname().lower()).strip("-._")
    return f"cli-{host or 'host'}"[:64]


def _create_token(client: Remote, name: str) -> dict[str, Any]:
    """A new token named ``name``; an older login from this host (same name) is revoked."""
    try:
        return dict(client.call("POST", "/tokens", body={"name": name}))
    except CliError as exc:
        if exc.status != 409:
            raise
    for old in client.call("GET", "/tokens"):
        if old["name"] == name and old.get("revoked_at") is None:
            client.call("DELETE", f"/tokens/{old['id']}")
    return dict(client.call("POST", "/tokens", body={"name": name}))


def login(
    url: Annotated[str, typer.Argument(help="The server, e.g. https://registry.example.com")],
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Default: TIDEGATE_USERNAME or ask.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Log in: create an access token for this machine and store it (mode 0600)."""
    server = normalize_url(url)
    user = username or os.environ.get("TIDEGATE_USERNAME") or str(typer.prompt("Username"))
    password = read_password(password_stdin)
    created = _create_token(Remote(server, basic(user, password)), token_name())
    path = save_profile(Profile(server, user, str(created["token"]), str(created["id"])))
    out.print(
        f"Logged in to {server} as {user} (token {created['name']}, id {created['id']},"
        f" expires {created['expires_at']}); stored in {path}",
        markup=False,
        highlight=False,
    )


def logout() -> None:
    """Revoke the stored access token and forget it."""
    profile = load_profile()
    if profile is None:
        out.print("not logged in")
        return
    client = Remote(normalize_url(profile.url), bearer(profile.token))
    try:
        if profile.token_id:
            client.call("DELETE", f"/tokens/{profile.token_id}")
    except CliError as exc:
        if exc.exit_code not in (EXIT_AUTH, EXIT_NOT_FOUND):  # already revoked or expired
            raise
    remove_profile()
    out.print(f"Logged out of {profile.url}", markup=False, highlight=False)

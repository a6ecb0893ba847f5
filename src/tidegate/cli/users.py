"""``tidegate user``: list, show, create, update and delete users (admin only on the server)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, done, show_list, show_one
from tidegate.cli.prompts import read_password

app = typer.Typer(no_args_is_help=True, help="Users (admin only).")

COLUMNS = ("name", "email", "is_admin", "disabled", "groups", "created_at")
EmailOption = Annotated[
    str | None, typer.Option("--email", help='Where notifications go ("" removes it).')
]

GroupOption = Annotated[
    list[str] | None, typer.Option("--group", "-g", help="Group to belong to (repeatable).")
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin.")
]


@app.command("list")
def list_users(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List users."""
    show_list(remote(server).call("GET", "/users"), COLUMNS, as_json)


@app.command()
def show(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one user."""
    show_one(remote(server).call("GET", f"/users/{name}"), as_json)


@app.command()
def create(
    name: str,
    password_stdin: PasswordStdin = False,
    group: GroupOption = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    email: EmailOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user; the password comes from stdin or a prompt, never from a flag."""
    client = remote(server)
    password = read_password(password_stdin, f"Password for {name}", confirm=True)
    body = {"username": name, "password": password, "groups": group or [], "is_admin": admin}
    if email is not None:
        body["email"] = email
    show_one(client.call("POST", "/users", body=body), as_json)


@app.command()
def update(
    name: str,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Set a new password, read from stdin (prompted for on a terminal).",
        ),
    ] = False,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="Replace the user's groups (repeatable)."),
    ] = None,
    admin: Annotated[
        bool | None, typer.Option("--admin/--no-admin", help="Grant or take away admin.")
    ] = None,
    disable: Annotated[
        bool | None,
        typer.Option("--disable/--enable", help="Disable (its tokens stop working) or enable."),
    ] = None,
    email: EmailOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a user's password, groups, admin flag or disabled state."""
    client = remote(server)
    body: dict[str, Any] = {}
    if password_stdin:
        body["password"] = read_password(
            not typer.get_text_stream("stdin").isatty(), f"New password for {name}", confirm=True
        )
    if group is not None:
        body["groups"] = group
    if admin is not None:
        body["is_admin"] = admin
    if disable is not None:
        body["disabled"] = disable
    if email is not None:
        body["email"] = email
    show_one(client.call("PATCH", f"/users/{name}", body=body), as_json)


@app.command()
def delete(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Delete a user and its access tokens."""
    remote(server).call("DELETE", f"/users/{name}")
    done(f"deleted user {name}", as_json, deleted=name)

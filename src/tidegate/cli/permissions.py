"""``tidegate perm``: permission targets (admin only on the server), and ``perm check``: what
the caller may do on a repository or an image."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tidegate.cli.client import EXIT_USAGE, CliError, ServerOption, remote
from tidegate.cli.output import JsonOption, done, show_list, show_one

app = typer.Typer(no_args_is_help=True, help="Permission targets.")

COLUMNS = ("name", "repositories", "include", "exclude", "users", "groups", "anonymous")

TargetFile = Annotated[Path, typer.Argument(help="The target as JSON ('-' for stdin).")]


def read_target(file: Path) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        data = json.loads(text)
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}", EXIT_USAGE) from None
    except ValueError as exc:
        raise CliError(f"{file} is not JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(data, dict):
        raise CliError(f"{file} must hold one JSON object (a permission target)", EXIT_USAGE)
    return data


@app.command("list")
def list_targets(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List permission targets."""
    show_list(remote(server).call("GET", "/permissions"), COLUMNS, as_json)


@app.command()
def show(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one permission target."""
    show_one(remote(server).call("GET", f"/permissions/{name}"), as_json)


@app.command()
def create(file: TargetFile, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Create a permission target from a JSON file (see docs/access.md for the shape)."""
    client = remote(server)
    show_one(client.call("POST", "/permissions", body=read_target(file)), as_json)


@app.command()
def update(
    name: str, file: TargetFile, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Replace a permission target with the one in a JSON file."""
    client = remote(server)
    target = {"name": name, **read_target(file)}
    show_one(client.call("PUT", f"/permissions/{name}", body=target), as_json)


@app.command()
def delete(name: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Delete a permission target."""
    remote(server).call("DELETE", f"/permissions/{name}")
    done(f"deleted permission target {name}", as_json, deleted=name)


@app.command()
def check(
    repo: str,
    image: Annotated[str | None, typer.Argument(help="Image inside the repository.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your effective actions on a repository (or on one image in it)."""
    params = {"repo": repo} | ({"image": image} if image else {})
    show_one(remote(server).call("GET", "/me/permissions", params=params), as_json)

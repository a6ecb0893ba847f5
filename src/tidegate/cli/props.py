"""``tidegate props``: the properties of an image version (``read`` to get, ``annotate`` to
change; ``tidegate.*`` keys are read-only)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, print_json, show_one
from tidegate.cli.references import ImageVersion, parse_pairs, parse_version

app = typer.Typer(no_args_is_help=True, help="Properties of an image version.")

Version = Annotated[str, typer.Argument(help="REPO/IMAGE:TAG or REPO/IMAGE@DIGEST")]
Pairs = Annotated[list[str] | None, typer.Argument(help="key=value ...")]


def _params(v: ImageVersion) -> dict[str, str]:
    return {"repo": v.repo, "image": v.image, "reference": v.reference}


def _show(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(answer)
    else:
        show_one({"digest": answer["digest"], **answer["properties"]}, False)


@app.command()
def get(version: Version, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show the properties (system ones included)."""
    v = parse_version(version)
    _show(remote(server).call("GET", "/properties", params=_params(v)), as_json)


@app.command("set")
def set_(
    version: Version, pairs: Pairs = None, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Replace every user property with the given key=value pairs."""
    v = parse_version(version)
    body = parse_pairs(pairs or [])
    _show(remote(server).call("PUT", "/properties", params=_params(v), body=body), as_json)


@app.command()
def add(
    version: Version, pairs: Pairs = None, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Add values to their keys, keeping the values there (parallel jobs may add at once)."""
    v = parse_version(version)
    body = parse_pairs(pairs or [])
    _show(remote(server).call("POST", "/properties/values", params=_params(v), body=body), as_json)


@app.command()
def patch(
    version: Version,
    pairs: Pairs = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="Key to remove (repeatable).")
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the given keys, remove the --remove ones; others stay."""
    v = parse_version(version)
    body: dict[str, list[str] | None] = {**parse_pairs(pairs or [])}
    body.update(dict.fromkeys(remove or []))
    _show(remote(server).call("PATCH", "/properties", params=_params(v), body=body), as_json)


@app.command()
def delete(
    version: Version,
    keys: Annotated[list[str] | None, typer.Argument(help="Keys (none: every user key).")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove the named keys, or every user property."""
    v = parse_version(version)
    params: Any = [*_params(v).items(), *(("key", k) for k in keys or [])]
    _show(remote(server).call("DELETE", "/properties", params=params), as_json)

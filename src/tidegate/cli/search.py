"""``tidegate search``: images across the repositories you may read, by pattern, property
and time (docs/promotion.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, print_json, show_list

COLUMNS = ("repo", "image", "tag", "digest", "pushed_by", "pushed_at", "properties")


def search(
    repo: Annotated[
        list[str] | None, typer.Option("--repo", "-r", help="Repository (repeat).")
    ] = None,
    image: Annotated[str | None, typer.Option("--image", "-i", help="Image glob.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", "-t", help="Tag glob.")] = None,
    prop: Annotated[
        list[str] | None,
        typer.Option("--prop", "-p", help="k=v, k!=v, k or !k (repeat; all must hold)."),
    ] = None,
    pushed_after: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    pushed_before: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    promoted_after: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    promoted_before: Annotated[str | None, typer.Option(help="ISO 8601 time.")] = None,
    limit: Annotated[int, typer.Option(help="Results (1 to 1000).")] = 100,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search images; the answer lists only what you may read."""
    params: dict[str, str | list[str]] = {
        "limit": str(limit),
        "repo": repo or [],
        "prop": prop or [],
    }
    for key, value in (
        ("image", image),
        ("tag", tag),
        ("pushed_after", pushed_after),
        ("pushed_before", pushed_before),
        ("promoted_after", promoted_after),
        ("promoted_before", promoted_before),
    ):
        if value is not None:
            params[key] = value
    client = remote(server)
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.call(
            "GET", "/search", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        items.extend(page["items"])
        cursor = page["next"]
        if not (all_pages and cursor):
            break
    if as_json:
        print_json({"items": items, "next": cursor})
        return
    rows = [
        {**item, "digest": item["digest"][:19], "properties": _short(item["properties"])}
        for item in items
    ]
    show_list(rows, COLUMNS, False)


def _short(properties: dict[str, list[str]]) -> str:
    shown = [f"{k}={','.join(v)}" for k, v in properties.items() if not k.startswith("tidegate.")]
    return "; ".join(shown) or "-"

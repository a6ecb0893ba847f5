"""``tidegate trash``: deleted manifests and tags, restorable until they expire."""

from __future__ import annotations

from typing import Annotated

import typer

from tidegate.cli.client import ServerOption, remote
from tidegate.cli.output import JsonOption, out, print_json, show_list

app = typer.Typer(no_args_is_help=True, help="Deleted manifests and tags (restorable).")

COLUMNS = ("id", "kind", "repository", "image", "tags", "digest", "deleted_by", "expires_at")


@app.command("list")
def list_entries(
    repo: Annotated[str | None, typer.Option("--repo", help="Only this repository.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Only this image.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List trash entries, newest first."""
    params = {k: v for k, v in (("repo", repo), ("image", image)) if v}
    show_list(remote(server).call("GET", "/trash", params=params or None), COLUMNS, as_json)


@app.command()
def restore(entry_id: int, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Restore a trash entry: the exact manifest, its properties and its tags (needs delete)."""
    answer = remote(server).call("POST", f"/trash/{entry_id}/restore")
    if as_json:
        print_json(answer)
        return
    entry = answer["entry"]
    name = f"{entry['repository']}/{entry['image']}@{entry['digest']}"
    out.print(f"restored {name} ({answer['manifest']})", markup=False, highlight=False)
    if answer["tags_restored"]:
        out.print("tags: " + ", ".join(answer["tags_restored"]), markup=False)
    if answer.get("properties_restored"):
        out.print("properties: " + ", ".join(answer["properties_restored"]), markup=False)
    for kept in answer.get("properties_kept") or []:
        current = ",".join(kept["current"])
        out.print(
            f"property not restored: {kept['key']} (kept the current {current})",
            markup=False,
            highlight=False,
        )
    for refused in answer["tags_refused"]:
        out.print(f"tag not restored: {refused['reason']}", markup=False, highlight=False)


@app.command()
def purge(entry_id: int, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Purge a trash entry now: no longer restorable; its space is freed by the next GC run
    (needs delete)."""
    entry = remote(server).call("DELETE", f"/trash/{entry_id}")
    if as_json:
        print_json(entry)
        return
    name = f"{entry['repository']}/{entry['image']}@{entry['digest']}"
    out.print(
        f"purged trash entry {entry['id']} ({name}); the next gc run frees its space",
        markup=False,
        highlight=False,
    )

"""``tidegate promote``: copy or move an image version into another repository, through the
target's gate. Exit code 7 when the gate refuses (also for a dry run that would be refused)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.client import EXIT_GATE, CliError, ServerOption, remote
from tidegate.cli.output import JsonOption, err, print_json, show_one
from tidegate.cli.references import parse_pairs, parse_version


def _print_refusal(body: Any, as_json: bool) -> None:
    if as_json:
        print_json(body)
        return
    checks = (body or {}).get("failed") or []
    for check in checks:
        err.print(f"  failed {check.get('condition')}: {check.get('reason')}", markup=False)


def _readable(record: dict[str, Any]) -> dict[str, Any]:
    """The record for people: the gate's checks one a line, passed or FAILED."""
    checks = (record.get("evaluation") or {}).get("checks") or []
    lines = [
        f"{'passed' if c.get('passed') else 'FAILED'}  {c.get('condition')}: {c.get('reason')}"
        for c in checks
    ]
    return {**record, "evaluation": "\n".join(lines) or None}


def promote(
    version: Annotated[str, typer.Argument(help="REPO/IMAGE:TAG or REPO/IMAGE@DIGEST")],
    to: Annotated[str, typer.Option("--to", help="Target repository.")],
    target_image: Annotated[str | None, typer.Option(help="Image name in the target.")] = None,
    target_tag: Annotated[str | None, typer.Option(help="Tag in the target.")] = None,
    move: Annotated[bool, typer.Option("--move", help="Move instead of copy.")] = False,
    prop: Annotated[
        list[str] | None, typer.Option("--prop", help="k=v, set on arrival (repeatable).")
    ] = None,
    no_referrers: Annotated[
        bool, typer.Option("--no-referrers", help="Leave signatures, SBOMs... behind.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate the gate; change nothing.")
    ] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Promote an image version (with its whole closure) into another repository."""
    v = parse_version(version)
    body = {
        "source": v.repo,
        "target": to,
        "image": v.image,
        "tag": v.tag,
        "digest": v.digest,
        "target_image": target_image,
        "target_tag": target_tag,
        "mode": "move" if move else "copy",
        "properties": parse_pairs(prop or []),
        "include_referrers": not no_referrers,
        "dry_run": dry_run,
    }
    try:
        record = remote(server).call("POST", "/promotions", body=body)
    except CliError as exc:
        if exc.exit_code == EXIT_GATE:
            _print_refusal(exc.body, as_json)
        raise
    show_one(record if as_json else _readable(record), as_json)
    if record.get("outcome") == "refused":
        raise CliError(f"the gate of {to!r} would refuse this promotion", EXIT_GATE)

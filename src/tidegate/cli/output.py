"""How remote commands print: a Rich table for people, JSON (``--json``) for scripts.

Owns: the ``--json`` option, rendering of lists and single records, and the one-line results
of calls that answer nothing (delete, add, revoke). Errors go to stderr, results to stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]

# Into a pipe or a file, never cut a value (an id): as wide as the table needs.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 10_000)
err = Console(stderr=True, soft_wrap=True)


def cell(value: Any, key: str = "") -> str:
    """One value as table text: lists joined, grants one ``name: actions`` a line, times to
    the minute in UTC, nothing as ``-``."""
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}: {cell(v)}" for k, v in value.items())
    if key.endswith("_at") and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            pass
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def show_list(rows: list[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print("(none)")
        return
    table = Table(*columns, box=None, header_style="bold")
    for row in rows:
        table.add_row(*(cell(row.get(c), c) for c in columns))
    out.print(table)


def show_one(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(record)
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in record.items():
        table.add_row(key, cell(value, key))
    out.print(table)


def done(message: str, as_json: bool, **fields: Any) -> None:
    """The result of a call that answers no record: a sentence, or ``{"ok": true, ...}``."""
    if as_json:
        print_json({"ok": True, **fields})
    else:
        out.print(message, markup=False, highlight=False)

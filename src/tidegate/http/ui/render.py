"""Templates and the filters they use (sizes, digests, times)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(value: Any) -> str:
    """A byte count as ``512 B`` or ``1.5 GiB``; never raises (a size comes from JSON that an
    admin or a pusher wrote, so it may be any number, huge, negative or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "—"
        value = int(value)
    if value < 0:
        return "—"
    if value < 1024:
        return f"{value} B"
    # integer arithmetic: a 400-digit quota does not fit in a float
    for power, unit in enumerate(SIZE_UNITS, start=1):
        tenths = (value * 10 + 1024**power // 2) // 1024**power  # rounded to 0.1
        if tenths < 10240 or unit == SIZE_UNITS[-1]:
            if tenths >= 10**15:  # more exbibytes than anyone has: say so, not 400 digits
                return f"more than {10**14} {unit}"
            return f"{tenths // 10}.{tenths % 10} {unit}"
    return "—"  # not reached


def short_digest(value: Any) -> str:
    text = str(value or "")
    algo, _, hexpart = text.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else text


def when(value: Any) -> str:
    """An API timestamp as ``2026-12-04 21:55 UTC``."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tidegate.http.ui", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.filters["short"] = short_digest
    env.filters["when"] = when
    return env

"""Templates and the filters they use (sizes, digests, times)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from tidegate.config import format_size


def human_size(value: Any) -> str:
    """A byte count from JSON as ``config.format_size`` writes it; never raises (an admin or a
    pusher wrote the number: it may be huge, negative or not a number at all)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "—"
        value = int(value)
    return format_size(value) if value >= 0 else "—"


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

"""Form text to API bodies and back, for the administration and cleanup pages: lists typed one
per line or comma-separated, permission grants (``group:developers=read,deploy``), and rules
written as JSON or YAML. Parsing errors are ``FormError`` with a message for people; what the
text means is the API's to judge (it validates the body and names the field)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml


class FormError(Exception):
    """Form text that cannot be turned into an API body."""


def items(text: str) -> list[str]:
    """One item a line or comma-separated; blanks dropped, order kept."""
    return [part.strip() for part in re.split(r"[\n,]", text) if part.strip()]


def lines(values: list[str]) -> str:
    return "\n".join(values)


def grants_text(target: dict[str, Any]) -> str:
    """A permission target's grants, one a line, as the grants textarea takes them."""
    rows = [f"group:{name}={','.join(acts)}" for name, acts in target.get("groups", {}).items()]
    rows += [f"user:{name}={','.join(acts)}" for name, acts in target.get("users", {}).items()]
    if target.get("anonymous"):
        rows.append(f"anonymous={','.join(target['anonymous'])}")
    return "\n".join(rows)


def parse_grants(text: str) -> dict[str, Any]:
    """``group:NAME=a,b``, ``user:NAME=a,b`` and ``anonymous=read`` lines →
    ``{"groups": {...}, "users": {...}, "anonymous": [...]}``."""
    grants: dict[str, Any] = {"groups": {}, "users": {}, "anonymous": []}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        who, sep, acts = line.partition("=")
        actions = [a.strip() for a in acts.split(",") if a.strip()]
        who = who.strip()
        if not sep or not actions:
            raise FormError(f"grants line {number}: write PRINCIPAL=ACTION,ACTION (got {line!r})")
        if who == "anonymous":
            grants["anonymous"] = actions
            continue
        kind, colon, name = who.partition(":")
        if not colon or kind not in ("group", "user") or not name.strip():
            raise FormError(
                f"grants line {number}: the principal is group:NAME, user:NAME or anonymous "
                f"(got {who!r})"
            )
        grants[kind + "s"][name.strip()] = actions
    return grants


MAX_DOCUMENT = 64 * 1024


def parse_document(text: str, what: str) -> Any:
    """JSON or YAML text (JSON is YAML) as plain JSON values: YAML's dates and the like become
    strings for the API to judge; aliases (``*a``, which can multiply a small text into a huge
    body) are refused. ``FormError`` naming ``what`` when it cannot be read."""
    if len(text) > MAX_DOCUMENT:
        raise FormError(f"{what}: at most {MAX_DOCUMENT // 1024} KiB of text")
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text)):
            raise FormError(f"{what}: YAML aliases (*name) are not accepted; write it out")
        return json.loads(json.dumps(yaml.safe_load(text), default=str, allow_nan=False))
    except yaml.YAMLError as exc:
        raise FormError(f"{what}: not valid YAML or JSON: {exc}") from exc
    except ValueError as exc:  # a value JSON cannot carry (NaN, .inf)
        raise FormError(f"{what}: {exc}") from exc


def document_text(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False) if value else ""


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)

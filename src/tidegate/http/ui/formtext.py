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
MAX_DEPTH = 32  # rules are a few levels deep; deeper nesting is refused before it is built


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates and timestamps as the text typed (``2026-01-01``): a date
    key could not become JSON, and the API judges what the text means."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _check_events(text: str, what: str) -> None:
    """Aliases (``*a``, which can multiply a small text into a huge body) and nesting deeper
    than MAX_DEPTH (which would exhaust the recursion of the YAML composer) are refused."""
    depth = 0
    for event in yaml.parse(text, Loader=_PlainLoader):
        if isinstance(event, yaml.AliasEvent):
            raise FormError(f"{what}: YAML aliases (*name) are not accepted; write it out")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise FormError(f"{what}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse_document(text: str, what: str) -> Any:
    """JSON or YAML text (JSON is YAML) as plain JSON values: YAML's dates and the like stay
    strings for the API to judge; aliases and deep nesting are refused. ``FormError`` naming
    ``what`` when it cannot be read."""
    if len(text) > MAX_DOCUMENT:
        raise FormError(f"{what}: at most {MAX_DOCUMENT // 1024} KiB of text")
    try:
        _check_events(text, what)
        value = yaml.load(text, Loader=_PlainLoader)  # a SafeLoader: builds plain values only
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except yaml.YAMLError as exc:
        raise FormError(f"{what}: not valid YAML or JSON: {exc}") from exc
    except ValueError as exc:  # a value JSON cannot carry (NaN, .inf)
        raise FormError(f"{what}: {exc}") from exc
    except TypeError as exc:  # a mapping key JSON cannot carry (a list, a null)
        raise FormError(f"{what}: write mapping keys as plain text ({exc})") from exc
    except RecursionError:
        raise FormError(f"{what}: nested too deep") from None


def document_text(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False) if value else ""


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)

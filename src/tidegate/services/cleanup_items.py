"""Cleanup plan items: the protection rule, the fingerprint of an item's planned state, what
changed since, and the form of a plan callers see (without the stored ``expect`` state, and
only the images the viewer may read)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from tidegate.db.records import RepositoryRecord


def is_protected(record: RepositoryRecord) -> bool:
    """A repository is protected when its option says so; without the option, when its stage
    is ``prod``."""
    value = record.options.get("protected")
    return value if isinstance(value, bool) else record.stage == "prod"


def fingerprint(digest: str, tags: list[str], properties: Mapping[str, list[str]]) -> str:
    canonical = json.dumps(
        {"digest": digest, "tags": sorted(tags), "properties": sorted_properties(properties)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def sorted_properties(properties: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in sorted(properties.items())}


def property_change(before: Mapping[str, list[str]], after: Mapping[str, list[str]]) -> str:
    was = {(k, v) for k, vs in before.items() for v in vs}
    now = {(k, v) for k, vs in after.items() for v in vs}
    parts = []
    added = sorted(now - was)
    removed = sorted(was - now)
    if added:
        parts.append("added " + ", ".join(f"{k}={v}" for k, v in added[:5]))
    if removed:
        parts.append("removed " + ", ".join(f"{k}={v}" for k, v in removed[:5]))
    return "; ".join(parts)


def public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "expect"}


def plan_view(plan: Mapping[str, Any], with_items: bool = True) -> dict[str, Any]:
    items = plan["items"] or []
    view = {
        "id": plan["id"],
        "repository": plan["repository"],
        "actor": plan["actor"],
        "created_at": plan["created_at"],
        "expires_at": plan["expires_at"],
        "state": plan["state"],
        "policy": plan["policy"],
        "count": len(items),
        "refused_count": len(plan["refused"] or []),
        "bytes_freed": sum(int(i.get("bytes_freed") or 0) for i in items),
        "applied_at": plan["applied_at"],
        "applied_by": plan["applied_by"],
        "result": plan["result"],
    }
    if with_items:
        view["items"] = [public(i) for i in items]
        view["refused"] = list(plan["refused"] or [])
    return view


def visible_view(
    plan: Mapping[str, Any], readable: Callable[[str], bool], with_items: bool = True
) -> dict[str, Any]:
    """``plan_view`` with only the items and refusals on images ``readable`` admits; the
    others are counted in ``hidden`` (never named)."""
    items = [i for i in plan["items"] or [] if readable(i["image"])]
    refused = [r for r in plan["refused"] or [] if readable(r["image"])]
    hidden = len(plan["items"] or []) + len(plan["refused"] or []) - len(items) - len(refused)
    return {**plan_view({**plan, "items": items, "refused": refused}, with_items), "hidden": hidden}

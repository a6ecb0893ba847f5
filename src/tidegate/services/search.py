"""Search across the repositories a caller may read: image and tag globs, property
conditions, push and promotion times; paginated with an opaque keyset cursor.

The database narrows (LIKE prefilters, property EXISTS clauses, keyset order); the exact glob
and the per-image read permission are applied here, batch by batch, until a page is full.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from tidegate.auth.globs import matches
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import properties as property_q
from tidegate.db import search as search_q
from tidegate.errors import InvalidRequest
from tidegate.services.gates import parse_condition
from tidegate.services.names import NameResolver

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_MAX_BATCHES = 50


@dataclass(frozen=True, slots=True)
class SearchItem:
    repo: str
    image: str
    tag: str | None
    digest: str
    media_type: str
    size: int
    pushed_by: str | None
    pushed_at: datetime
    properties: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[SearchItem]
    next: str | None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    repos: list[str]
    image: str | None = None
    tag: str | None = None
    props: tuple[str, ...] = ()
    pushed_after: datetime | None = None
    pushed_before: datetime | None = None
    promoted_after: datetime | None = None
    promoted_before: datetime | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def glob_to_like(pattern: str) -> str:
    """A LIKE pattern that every name the glob matches also matches (a prefilter)."""
    out = []
    for char in pattern:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in "%_\\":
            out.append("\\" + char)
        else:
            out.append(char)
    like = "".join(out)
    while "%%" in like:
        like = like.replace("%%", "%")
    return like


def _encode(cursor: tuple[str, str, str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode().rstrip("=")


def _decode(text: str) -> tuple[str, str, str, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequest("the cursor is not one this server gave out") from None
    if not (
        isinstance(values, list) and len(values) == 4 and all(isinstance(v, str) for v in values)
    ):
        raise InvalidRequest("the cursor is not one this server gave out")
    return (values[0], values[1], values[2], values[3])


def _property_filters(conditions: tuple[str, ...]) -> list[search_q.PropertyFilter]:
    filters = []
    for text in conditions:
        condition = parse_condition(text)
        if condition.kind == "referrer":
            raise InvalidRequest(f"{text!r}: search by referrer is not supported; use a property")
        negate = condition.kind in ("ne", "absent")
        value = condition.value if condition.kind in ("eq", "ne") else None
        filters.append(search_q.PropertyFilter(condition.key, value, negate))
    return filters


class SearchService:
    def __init__(self, db: Database, names: NameResolver, evaluator: PermissionEvaluator) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator

    def _repositories(self, principal: Principal, wanted: list[str]) -> dict[int, str]:
        known = {r.key: r for r in self._names.repositories() if r.kind == "local"}
        unknown = [k for k in wanted if k not in {r.key for r in self._names.repositories()}]
        if unknown:
            raise InvalidRequest(f"unknown repository(ies): {', '.join(unknown)}")
        keys = wanted or list(known)
        return {
            known[k].id: k
            for k in keys
            if k in known and Action.READ in self._evaluator.actions(principal, k, "")
        }

    def search(self, principal: Principal, query: SearchQuery) -> SearchPage:
        if not 1 <= query.limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be from 1 to {MAX_LIMIT}")
        repos = self._repositories(principal, query.repos)
        if not repos:
            return SearchPage([], None)
        where = search_q.SearchFilter(
            repository_ids=list(repos),
            image_like=glob_to_like(query.image) if query.image else None,
            tag_like=glob_to_like(query.tag) if query.tag else None,
            tagged_only=query.tag is not None,
            properties=_property_filters(query.props),
            pushed_after=query.pushed_after,
            pushed_before=query.pushed_before,
            promoted_after=query.promoted_after,
            promoted_before=query.promoted_before,
        )
        after = _decode(query.cursor) if query.cursor else None
        found: list[search_q.SearchRow] = []
        resume: tuple[str, str, str, str] | None = None
        with self._db.read() as conn:
            for _ in range(_MAX_BATCHES):
                batch = search_q.search(conn, where, after, query.limit + 1)
                found.extend(row for row in batch if self._keep(principal, row, query))
                if len(batch) <= query.limit or len(found) > query.limit:
                    break
                after = batch[-1].cursor
            else:  # many rows the caller may not see: a short page, and where to go on
                resume = after
            page = found[: query.limit]
            props = property_q.get_many(conn, [r.manifest_id for r in page])
        if len(found) > query.limit:
            resume = page[-1].cursor
        items = [
            SearchItem(
                r.repository,
                r.image,
                r.tag,
                r.digest,
                r.media_type,
                r.size,
                r.pushed_by,
                r.pushed_at,
                props.get(r.manifest_id, {}),
            )
            for r in page
        ]
        return SearchPage(items, _encode(resume) if resume else None)

    def _keep(self, principal: Principal, row: search_q.SearchRow, query: SearchQuery) -> bool:
        if query.image and not matches(query.image, row.image):
            return False
        if query.tag and not (row.tag is not None and matches(query.tag, row.tag)):
            return False
        return self._evaluator.allowed(principal, row.repository, row.image, Action.READ)

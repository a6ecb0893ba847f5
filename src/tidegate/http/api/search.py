"""``/api/v1/search``: images across the repositories the caller may read (docs/promotion.md)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.search import DEFAULT_LIMIT, SearchQuery

router = APIRouter(prefix="/api/v1/search", tags=["search"])


class SearchItem(Strict):
    repo: str
    image: str
    tag: str | None
    digest: str
    media_type: str
    size: int
    pushed_by: str | None
    pushed_at: datetime
    properties: dict[str, list[str]]


class SearchPage(Strict):
    items: list[SearchItem]
    next: str | None


@router.get("")
async def search(
    api: Api,
    caller: Caller,
    repo: Annotated[list[str] | None, Query(description="repository key (repeatable)")] = None,
    image: Annotated[
        str | None, Query(description="image glob: ** any depth, * one segment")
    ] = None,
    tag: Annotated[str | None, Query(description="tag glob; given: tagged manifests only")] = None,
    prop: Annotated[
        list[str] | None, Query(description="k=v, k!=v, k (present), !k (absent); repeatable")
    ] = None,
    pushed_after: datetime | None = None,
    pushed_before: datetime | None = None,
    promoted_after: datetime | None = None,
    promoted_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> SearchPage:
    """Tagged images (and untagged top-level manifests when no tag pattern is given) the
    caller may read, ordered by repository, image, tag; ``next`` continues the listing."""
    query = SearchQuery(
        repos=repo or [],
        image=image,
        tag=tag,
        props=tuple(prop or ()),
        pushed_after=pushed_after,
        pushed_before=pushed_before,
        promoted_after=promoted_after,
        promoted_before=promoted_before,
        limit=limit,
        cursor=cursor,
    )
    page = await call(api.search.search, caller.principal, query)
    return SearchPage.model_validate(
        {"items": [asdict(item) for item in page.items], "next": page.next}
    )

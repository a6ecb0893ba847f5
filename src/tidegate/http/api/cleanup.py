"""``/api/v1/cleanup/plans`` and ``/api/v1/trash``: plan a cleanup, show plans, apply one
exactly once; list the trash and restore from it (docs/lifecycle.md). The services check
``delete`` (plan, apply, restore) and ``read`` (show, list) per repository and image; a
protected repository's selection is listed under ``refused``, never under ``items``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import RowId, Strict

router = APIRouter(prefix="/api/v1", tags=["lifecycle"])


class PlanRequest(Strict):
    """``rules`` and ``untagged_older_than`` as in a retention policy; without both, the
    repository's own policy is used."""

    repo: str
    rules: list[dict[str, Any]] | None = None
    untagged_older_than: str | None = None

    def inline(self) -> dict[str, Any] | None:
        if self.rules is None and self.untagged_older_than is None:
            return None
        policy: dict[str, Any] = {"rules": self.rules or []}
        if self.untagged_older_than is not None:
            policy["untagged_older_than"] = self.untagged_older_than
        return policy


class TrashEntry(Strict):
    id: int
    kind: str
    repository: str
    image: str
    digest: str
    tags: list[str]
    properties: dict[str, list[str]]
    media_type: str | None
    size: int | None
    deleted_at: datetime
    expires_at: datetime
    deleted_by: str
    reason: str | None
    plan_id: str | None


class Restored(Strict):
    entry: TrashEntry
    manifest: str
    tags_restored: list[str]
    tags_refused: list[dict[str, str]]
    properties_restored: list[str]
    properties_kept: list[dict[str, Any]]


@router.post("/cleanup/plans", status_code=201)
async def plan(body: PlanRequest, api: Api, caller: Caller) -> dict[str, Any]:
    """Stores and returns a plan: ``items`` (what apply would delete: repository, image, tag
    or digest, reason, ``bytes_freed``, fingerprint), ``refused`` (selected, but kept: why).
    Needs delete on the repository."""
    return await call(api.cleanup.plan, caller, body.repo, body.inline())


@router.get("/cleanup/plans")
async def plans(
    api: Api,
    caller: Caller,
    repo: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    """Plans of repositories the caller may read, newest first, without their items."""
    return await call(api.cleanup.plans, caller.principal, repo, limit)


@router.get("/cleanup/plans/{plan_id}")
async def get_plan(plan_id: str, api: Api, caller: Caller) -> dict[str, Any]:
    return await call(api.cleanup.get, caller.principal, plan_id)


@router.post("/cleanup/plans/{plan_id}/apply")
async def apply(plan_id: str, api: Api, caller: Caller) -> dict[str, Any]:
    """Executes exactly the plan, once: ``applied`` (moved to the trash) and ``refused``
    (state changed since planning, with the reason). 409 when applied before or expired."""
    return await call(api.cleanup.apply, caller, plan_id)


@router.get("/trash")
async def trash(
    api: Api,
    caller: Caller,
    repo: str | None = None,
    image: str | None = None,
    digest: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TrashEntry]:
    """Deleted manifests and tags still restorable, newest first (images the caller reads)."""
    entries = await call(api.trash.entries, caller.principal, repo, image, digest, limit)
    return [TrashEntry.model_validate(asdict(e)) for e in entries]


@router.post("/trash/{entry_id}/restore")
async def restore(entry_id: RowId, api: Api, caller: Caller) -> Restored:
    """Brings the manifest (exact bytes and digest), its properties and its tags back; a tag
    that now names another digest is left as it is (``tags_refused``). When the manifest is
    there already (pushed again), its current properties stay and only the trashed keys it
    lacks come back: ``properties_restored`` and ``properties_kept`` say which. Needs delete."""
    result = await call(api.trash.restore, caller, entry_id)
    return Restored.model_validate(asdict(result))


@router.delete("/trash/{entry_id}")
async def purge(entry_id: int, api: Api, caller: Caller) -> TrashEntry:
    """Purges one entry now (no longer restorable; what only it held is garbage for the next
    GC run and stops counting against the quota then). Needs delete on the image."""
    entry = await call(api.trash.purge, caller, entry_id)
    return TrashEntry.model_validate(asdict(entry))

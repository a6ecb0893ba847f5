"""``/api/v1/gc``, ``/api/v1/jobs`` and ``/api/v1/storage`` (docs/lifecycle.md).

``POST /gc {"dry_run"?, "grace"?}`` starts a garbage collection as a job and answers ``202``
with the job and its URL (``Location``); a dry run is a job too (counting 100,000 blobs takes a
moment), so every run is polled the same way: ``GET /jobs/{id}``. A run already going anywhere
in the deployment answers 409 ``CONFLICT`` naming it. Admins only.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from tidegate.config import parse_duration
from tidegate.errors import InvalidRequest
from tidegate.http.api.deps import PREFIX, Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.jobs import JobView

router = APIRouter(prefix=PREFIX, tags=["lifecycle"])


class GcRequest(Strict):
    """``grace``: seconds or ``"1h"``-style; default the ``gc.grace`` setting."""

    dry_run: bool = False
    grace: float | str | None = Field(default=None)


class Job(Strict):
    id: str
    url: str
    kind: str
    state: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, view: JobView) -> Job:
        return cls(url=f"{PREFIX}/jobs/{view.id}", **asdict(view))


@router.post("/gc", status_code=202)
async def start_gc(body: GcRequest, api: Api, caller: Caller, response: Response) -> Job:
    """202 with the job; poll ``GET /api/v1/jobs/{id}`` for progress and the result."""
    grace = None
    if body.grace is not None:
        try:
            grace = parse_duration(body.grace)
        except ValueError as exc:
            raise InvalidRequest(f"grace: {exc}") from None
    view = await call(api.gc.start, caller, body.dry_run, grace)
    job = Job.of(view)
    response.headers["Location"] = job.url
    return job


@router.get("/gc")
async def gc_runs(api: Api, caller: Caller) -> list[Job]:
    """The latest garbage collection runs, newest first."""
    return [Job.of(v) for v in await call(api.jobs.latest, "gc")]


@router.get("/jobs/{job_id}")
async def job(job_id: str, api: Api, caller: Caller) -> Job:
    """State (``running``, ``succeeded``, ``failed``), progress and result of a job."""
    return Job.of(await call(api.jobs.get, job_id))


@router.get("/storage")
async def storage(api: Api, caller: Caller) -> dict[str, Any]:
    """Deduplicated bytes on disk and logical bytes per repository (admins)."""
    return await call(api.storage.summary)


@router.get("/storage/{key}")
async def repository_storage(key: str, api: Api, caller: Caller) -> dict[str, Any]:
    """Logical bytes of one repository and of each of its images (admin, or manage on it)."""
    return await call(api.storage.repository, caller.principal, key)

"""``/api/v1/promotions``: promote an image (copy or move, with its closure, through the
target's gate) and the lineage of a digest (docs/promotion.md). The promotion service checks
every permission; a gate refusal answers 409 ``GATE_REFUSED`` with the failed conditions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.promotion import GatePreview, PromotionRecord, PromotionRequest

router = APIRouter(prefix="/api/v1/promotions", tags=["promotions"])


class Promote(Strict):
    """``tag``, ``digest``, or both: the tag, which must still name that digest when the
    promotion runs (else 409 ``CONFLICT``, nothing promoted) — so a client promotes exactly
    what it checked, and the lineage keeps the tag. ``target_image`` defaults to ``image``,
    ``target_tag`` to ``tag`` (a promotion by digest alone without one arrives untagged)."""

    source: str
    target: str
    image: str
    tag: str | None = None
    digest: str | None = None
    target_image: str | None = None
    target_tag: str | None = None
    mode: Literal["copy", "move"] = "copy"
    properties: dict[str, list[str]] = {}
    include_referrers: bool = True
    dry_run: bool = False

    def request(self) -> PromotionRequest:
        return PromotionRequest(**self.model_dump())


class Promotion(Strict):
    id: int | None
    created_at: datetime
    actor: str
    source: str
    image: str
    target: str
    target_image: str
    digest: str
    tag: str | None
    target_tag: str | None
    mode: Literal["copy", "move"]
    properties: dict[str, list[str]]
    evaluation: dict[str, Any]
    outcome: Literal["promoted", "refused"]
    manifests: int
    blobs: int
    referrers: int
    dry_run: bool

    @classmethod
    def of(cls, record: PromotionRecord) -> Promotion:
        return cls.model_validate(asdict(record))


class Preview(Strict):
    """How the target's gate judges an image now: ``evaluation`` as in a promotion record
    (``{"passed", "checks": [{"condition", "passed", "reason"}]}``, the ``from`` rule first)."""

    source: str
    image: str
    reference: str
    digest: str
    target: str
    evaluation: dict[str, Any]

    @classmethod
    def of(cls, view: GatePreview) -> Preview:
        return cls.model_validate(asdict(view))


@router.post("", status_code=201)
async def promote(body: Promote, api: Api, caller: Caller, response: Response) -> Promotion:
    """201 with the promotion record; 200 for a dry run (nothing changes); 409
    ``GATE_REFUSED`` (``failed``, ``evaluation``) when the target's gate refuses."""
    record = await call(api.promotions.promote, caller, body.request())
    if record.dry_run:
        response.status_code = 200
    return Promotion.of(record)


@router.get("")
async def lineage(
    api: Api,
    caller: Caller,
    digest: str | None = None,
    repo: str | None = None,
    image: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Promotion]:
    """Promotions (promoted and refused) matching every filter, oldest first; only those
    whose source or target the caller may read."""
    records = await call(api.promotions.lineage, caller.principal, digest, repo, image, limit)
    return [Promotion.of(r) for r in records]


@router.get("/preview")
async def preview(
    api: Api,
    caller: Caller,
    source: Annotated[str, Query(min_length=1, description="source repository key")],
    image: Annotated[str, Query(min_length=1, description="image, e.g. shop/cart")],
    reference: Annotated[str, Query(min_length=1, description="a tag or a digest")],
    target: Annotated[str, Query(min_length=1, description="target repository key")],
) -> Preview:
    """The target's gate evaluated on the image's properties and referrers in the source, as
    a promotion would see them (without request properties). Needs only ``read`` on the source
    image: what is missing before a promotion is visible to everyone who may see the image."""
    view = await call(api.promotions.preview, caller.principal, source, image, reference, target)
    return Preview.of(view)

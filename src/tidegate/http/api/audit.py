"""``/api/v1/audit``: the audit log, newest first, or exported as JSON lines (admin only)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from starlette.responses import StreamingResponse

from tidegate.errors import InvalidRequest
from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
JSONL = "application/x-ndjson"


class AuditEvent(Strict):
    id: int
    at: datetime
    actor: str
    address: str | None
    action: str
    target: str | None
    outcome: Literal["ok", "refused"]
    reason: str | None
    detail: Any

    @classmethod
    def of(cls, record: Any) -> AuditEvent:
        """From a stored event (SQLite hands its timestamps back without a zone: UTC)."""
        event = cls.model_validate(record, from_attributes=True)
        if event.at.tzinfo is None:
            event.at = event.at.replace(tzinfo=UTC)
        return event


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


When = Annotated[datetime | None, Query(description="ISO 8601; no zone means UTC")]


@router.get("", response_model=None)
async def audit_events(
    api: Api,
    _: Caller,
    actor: str | None = None,
    repo: str | None = None,
    action: str | None = None,
    outcome: Literal["ok", "refused"] | None = None,
    since: When = None,
    until: When = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    format: Literal["json", "jsonl"] = "json",
) -> list[AuditEvent] | StreamingResponse:
    """Events matching every filter given (``since`` inclusive, ``until`` exclusive), newest
    first; ``format=jsonl`` exports every matching event, oldest first, one JSON object a
    line (``limit`` does not apply)."""
    since, until = _utc(since), _utc(until)
    if since and until and until <= since:
        raise InvalidRequest("until must be later than since")
    if format == "json":
        records = await call(api.audit.query, actor, action, repo, since, limit, until, outcome)
        return [AuditEvent.of(r) for r in records]

    async def lines() -> AsyncIterator[bytes]:
        after = 0
        while True:
            page = await call(
                api.audit.export_page, after, actor, action, repo, since, until, outcome
            )
            if not page:
                return
            chunk = "".join(
                json.dumps(jsonable_encoder(AuditEvent.of(r)), separators=(",", ":")) + "\n"
                for r in page
            )
            yield chunk.encode()
            after = page[-1].id

    return StreamingResponse(
        lines(),
        media_type=JSONL,
        headers={"Content-Disposition": 'attachment; filename="tidegate-audit.jsonl"'},
    )

"""``/api/v1/audit``: the audit log, newest first (admin only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEvent(Strict):
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


@router.get("")
async def audit_events(
    api: Api,
    _: Caller,
    actor: str | None = None,
    repo: str | None = None,
    action: str | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; no zone means UTC")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AuditEvent]:
    """Events matching every filter given, newest first."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    records = await call(api.audit.query, actor, action, repo, since, limit)
    return [AuditEvent.of(r) for r in records]

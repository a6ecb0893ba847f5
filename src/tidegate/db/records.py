"""Plain records the query functions return (no ORM objects leave ``db``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RepositoryRecord:
    id: int
    key: str
    kind: str
    stage: str | None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    id: int
    repository_id: int
    image: str
    digest: str
    media_type: str
    artifact_type: str | None
    subject: str | None
    size: int
    annotations: dict[str, str] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UploadRecord:
    id: str
    repository_id: int
    image: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    is_admin: bool

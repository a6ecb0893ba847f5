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
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user or a service account (``kind`` "service", no password)."""

    id: int
    username: str
    password_hash: str | None
    is_admin: bool
    kind: str = "user"
    disabled: bool = False
    description: str | None = None
    created_at: datetime | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: int
    name: str
    description: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    user_id: int
    name: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    parent_id: str | None = None
    password_mark: str | None = None  # a session token: valid while the password is unchanged


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """``user_id`` and ``group_id`` both None: the grant is to anonymous."""

    target_id: int
    user_id: int | None
    group_id: int | None
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TargetRecord:
    id: int
    name: str
    repositories: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    address: str | None
    action: str
    target: str | None
    outcome: str
    reason: str | None
    detail: Any

"""Principals and actions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    READ = "read"
    ANNOTATE = "annotate"
    DEPLOY = "deploy"
    OVERWRITE = "overwrite"
    DELETE = "delete"
    PROMOTE = "promote"
    MANAGE = "manage"


ALL_ACTIONS: tuple[Action, ...] = tuple(Action)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting. ``id`` is the users row (users and service accounts); ``token_id`` names
    the access token the caller authenticated with, and ``password_mark`` the password (a
    fingerprint of its stored hash), so registry tokens derived from either die with it: a
    revoked access token or a changed password ends those sessions."""

    kind: str  # "user" | "service" | "anonymous"
    name: str
    is_admin: bool = False
    id: int | None = None
    token_id: str | None = None
    password_mark: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Principal("anonymous", "anonymous")

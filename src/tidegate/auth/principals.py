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


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "user" | "service" | "anonymous"
    name: str
    is_admin: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Principal("anonymous", "anonymous")

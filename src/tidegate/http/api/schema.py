"""Shapes every router shares: the strict model base, the action names, the error body.

Request models refuse unknown fields and never coerce types (``"is_admin": "yes"`` is an error,
not ``True``), so a typo in a script fails loudly instead of being ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ActionName = Literal["read", "annotate", "deploy", "overwrite", "delete", "promote", "manage"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorBody(Strict):
    """Every error answer: a stable ``code``, a message for people, sometimes a ``detail``."""

    code: str
    message: str
    detail: Any = None

"""Shapes every router shares: the strict model base, the action names, the error body.

Request models refuse unknown fields and never coerce types (``"is_admin": "yes"`` is an error,
not ``True``), so a typo in a script fails loudly instead of being ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, field_validator

RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a row id (1 to 2^63-1)")]
"""Every integer id in an /api/v1 path: out of the database's 64-bit range is a clear 422,
never an overflow deep in the driver (500)."""

ActionName = Literal["read", "annotate", "deploy", "overwrite", "delete", "promote", "manage"]


def _no_lone_surrogates(value: Any) -> Any:
    """JSON may carry lone UTF-16 surrogates (``"\\ud800"``) that no database or hash can
    encode: refuse them at the door (422) instead of failing later (500)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_lone_surrogates(key)
            _no_lone_surrogates(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _no_lone_surrogates(item)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        return _no_lone_surrogates(value)


class ErrorBody(Strict):
    """Every error answer: a stable ``code``, a message for people, sometimes a ``detail``."""

    code: str
    message: str
    detail: Any = None

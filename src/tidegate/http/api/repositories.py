"""``/api/v1/repositories``: the repositories (key, kind, stage, options) and their gates.
Reading is open to every signed-in caller; replacing a gate needs ``manage`` on the
repository (checked by the repository service)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict

router = APIRouter(prefix="/api/v1/repositories", tags=["repositories"])


class Repository(Strict):
    key: str
    kind: str
    stage: str | None
    options: dict[str, Any]


class Gate(Strict):
    """``from``: repository keys or ``stage:<name>`` (empty: any source); ``require``:
    conditions ``k=v``, ``k!=v``, ``k``, ``!k``, ``referrer=<artifactType>``."""

    sources: list[str] = Field(default=[], alias="from")
    require: list[str] = []

    model_config = Strict.model_config | {"populate_by_name": True, "serialize_by_alias": True}

    def as_dict(self) -> dict[str, list[str]]:
        return {"from": list(self.sources), "require": list(self.require)}


@router.get("")
async def list_repositories(api: Api, _: Caller) -> list[Repository]:
    return [Repository.model_validate(asdict(r)) for r in await call(api.repositories.list_all)]


@router.get("/{key}")
async def get_repository(key: str, api: Api, _: Caller) -> Repository:
    return Repository.model_validate(asdict(await call(api.repositories.get, key)))


@router.get("/{key}/gate")
async def get_gate(key: str, api: Api, _: Caller) -> dict[str, list[str]]:
    return await call(api.repositories.gate, key)


@router.put("/{key}/gate")
async def set_gate(key: str, body: Gate, api: Api, caller: Caller) -> dict[str, list[str]]:
    """Replaces the gate (``{}``: no rules). Needs ``manage`` on the repository."""
    return await call(api.repositories.set_gate, caller, key, body.as_dict())

"""``/api/v1/permissions``: permission targets, which repositories and images, and which
actions for whom (admin only)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import ActionName, Strict
from tidegate.services.permissions import TargetView

router = APIRouter(prefix="/api/v1/permissions", tags=["permissions"])


class Target(Strict):
    """Repositories are keys or globs (``*``, ``team-*``); ``include``/``exclude`` are image
    globs (``**`` any depth, ``*`` one path segment). ``anonymous`` may only be ``[]`` or
    ``["read"]``."""

    name: str
    repositories: list[str]
    include: list[str] = ["**"]
    exclude: list[str] = []
    users: dict[str, list[ActionName]] = {}
    groups: dict[str, list[ActionName]] = {}
    anonymous: list[ActionName] = []

    @classmethod
    def of(cls, view: TargetView) -> Target:
        return cls.model_validate(asdict(view))

    def view(self) -> TargetView:
        return TargetView(
            self.name,
            list(self.repositories),
            list(self.include),
            list(self.exclude),
            {k: list(v) for k, v in self.users.items()},
            {k: list(v) for k, v in self.groups.items()},
            list(self.anonymous),
        )


@router.get("")
async def list_targets(api: Api, _: Caller) -> list[Target]:
    return [Target.of(t) for t in await call(api.permissions.list_all)]


@router.post("", status_code=201)
async def create_target(body: Target, api: Api, caller: Caller) -> Target:
    return Target.of(await call(api.permissions.create, caller, body.view()))


@router.get("/{name}")
async def get_target(name: str, api: Api, _: Caller) -> Target:
    return Target.of(await call(api.permissions.get, name))


@router.put("/{name}")
async def replace_target(name: str, body: Target, api: Api, caller: Caller) -> Target:
    """Replaces the whole target; the body's ``name`` must be the URL's."""
    return Target.of(await call(api.permissions.replace, caller, name, body.view()))


@router.delete("/{name}", status_code=204)
async def delete_target(name: str, api: Api, caller: Caller) -> Response:
    await call(api.permissions.delete, caller, name)
    return Response(status_code=204)

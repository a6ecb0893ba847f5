"""``/api/v1/groups``: groups of users and service accounts, and their members (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.identity import GroupView

router = APIRouter(prefix="/api/v1/groups", tags=["groups"])


class Group(Strict):
    name: str
    description: str | None
    members: list[str]

    @classmethod
    def of(cls, view: GroupView) -> Group:
        return cls(name=view.name, description=view.description, members=view.members)


class GroupCreate(Strict):
    name: str
    description: str | None = None
    members: list[str] = []


@router.get("")
async def list_groups(api: Api, _: Caller) -> list[Group]:
    return [Group.of(g) for g in await call(api.identity.list_groups)]


@router.post("", status_code=201)
async def create_group(body: GroupCreate, api: Api, caller: Caller) -> Group:
    view = await call(api.identity.create_group, caller, body.name, body.description, body.members)
    return Group.of(view)


@router.get("/{name}")
async def get_group(name: str, api: Api, _: Caller) -> Group:
    return Group.of(await call(api.identity.get_group, name))


@router.delete("/{name}", status_code=204)
async def delete_group(name: str, api: Api, caller: Caller) -> Response:
    """Deletes the group; its grants in permission targets go with it."""
    await call(api.identity.delete_group, caller, name)
    return Response(status_code=204)


@router.put("/{name}/members/{principal}", status_code=204)
async def add_member(name: str, principal: str, api: Api, caller: Caller) -> Response:
    """Adds a user or service account (idempotent)."""
    await call(api.identity.add_member, caller, name, principal)
    return Response(status_code=204)


@router.delete("/{name}/members/{principal}", status_code=204)
async def remove_member(name: str, principal: str, api: Api, caller: Caller) -> Response:
    await call(api.identity.remove_member, caller, name, principal)
    return Response(status_code=204)

"""``/api/v1/me``: who the caller is, and what it may do on a repository or an image."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import ActionName, Strict

router = APIRouter(prefix="/api/v1/me", tags=["me"])


class Me(Strict):
    name: str
    kind: Literal["user", "service"]
    is_admin: bool
    groups: list[str]


class MyPermissions(Strict):
    repo: str
    image: str
    actions: list[ActionName]


@router.get("")
async def me(api: Api, caller: Caller) -> Me:
    view = await call(api.identity.get_user, caller.name, caller.principal.kind)
    return Me.model_validate(
        {"name": view.name, "kind": view.kind, "is_admin": view.is_admin, "groups": view.groups}
    )


@router.get("/permissions")
async def my_permissions(api: Api, caller: Caller, repo: str, image: str = "") -> MyPermissions:
    """The caller's effective actions on ``image`` in ``repo`` (no image: the repository)."""
    actions = await call(api.permissions.effective, caller.principal, repo, image)
    return MyPermissions.model_validate({"repo": repo, "image": image, "actions": actions})

"""``/api/v1/me``: who the caller is, and what it may do on a repository or an image."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from tidegate.auth import access_tokens
from tidegate.errors import Denied, InvalidRequest, Unauthorized
from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import ActionName, Strict

router = APIRouter(prefix="/api/v1/me", tags=["me"])


class Me(Strict):
    name: str
    kind: Literal["user", "service"]
    is_admin: bool
    groups: list[str]


class PasswordChange(Strict):
    current_password: str
    new_password: str


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


@router.put("/password", status_code=204)
async def change_password(
    body: PasswordChange, request: Request, api: Api, caller: Caller
) -> Response:
    """A user changes their own password, proving the current one (throttled and audited like
    every password check). Sessions opened with the old password end, the UI's included."""
    if caller.principal.kind != "user":
        raise InvalidRequest("service accounts have no password: create a token")
    if access_tokens.looks_like_token(body.current_password):
        raise Denied("give your current password, not an access token")
    try:
        await api.gatekeeper.check_password(request, caller.name, body.current_password)
    except Unauthorized:
        raise Denied("the current password is not right") from None
    await call(api.identity.change_own_password, caller, body.new_password)
    return Response(status_code=204)

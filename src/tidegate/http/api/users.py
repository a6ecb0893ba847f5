"""``/api/v1/users``: people who sign in with a password (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.identity import UserView

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class User(Strict):
    name: str
    kind: Literal["user"] = "user"
    is_admin: bool
    disabled: bool
    groups: list[str]
    created_at: datetime | None
    email: str | None = None

    @classmethod
    def of(cls, view: UserView) -> User:
        return cls(
            name=view.name,
            is_admin=view.is_admin,
            disabled=view.disabled,
            groups=view.groups,
            created_at=view.created_at,
            email=view.email,
        )


class UserCreate(Strict):
    username: str
    password: str
    groups: list[str] = []
    is_admin: bool = False
    email: str | None = None  # where notifications go (docs/events.md)


class UserUpdate(Strict):
    """Only the fields present change; ``groups`` replaces the user's groups."""

    password: str | None = None
    groups: list[str] | None = None
    is_admin: bool | None = None
    disabled: bool | None = None
    email: str | None = None  # "" removes it


@router.get("")
async def list_users(api: Api, _: Caller) -> list[User]:
    return [User.of(u) for u in await call(api.identity.list_users, "user")]


@router.post("", status_code=201)
async def create_user(body: UserCreate, api: Api, caller: Caller) -> User:
    view = await call(
        api.identity.create_user,
        caller,
        body.username,
        body.password,
        body.groups,
        body.is_admin,
        body.email,
    )
    return User.of(view)


@router.get("/{name}")
async def get_user(name: str, api: Api, _: Caller) -> User:
    return User.of(await call(api.identity.get_user, name, "user"))


@router.patch("/{name}")
async def update_user(name: str, body: UserUpdate, api: Api, caller: Caller) -> User:
    view = await call(
        api.identity.update_user,
        caller,
        name,
        "user",
        password=body.password,
        groups=body.groups,
        is_admin=body.is_admin,
        disabled=body.disabled,
        email=body.email,
    )
    return User.of(view)


@router.delete("/{name}", status_code=204)
async def delete_user(name: str, api: Api, caller: Caller) -> Response:
    """Deletes the user and its access tokens; the last admin cannot be deleted."""
    await call(api.identity.delete_user, caller, name, "user")
    return Response(status_code=204)

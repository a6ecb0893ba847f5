"""``/api/v1/service-accounts``: robots for CI and pull secrets; no password, tokens only
(admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.identity import UserView

router = APIRouter(prefix="/api/v1/service-accounts", tags=["service accounts"])

KIND = "service"


class ServiceAccount(Strict):
    name: str
    kind: Literal["service"] = "service"
    groups: list[str]
    disabled: bool
    description: str | None
    created_at: datetime | None

    @classmethod
    def of(cls, view: UserView) -> ServiceAccount:
        return cls(
            name=view.name,
            groups=view.groups,
            disabled=view.disabled,
            description=view.description,
            created_at=view.created_at,
        )


class ServiceAccountCreate(Strict):
    name: str
    groups: list[str] = []
    description: str | None = None


class ServiceAccountUpdate(Strict):
    """Only the fields present change; ``groups`` replaces the account's groups."""

    groups: list[str] | None = None
    disabled: bool | None = None
    description: str | None = None


@router.get("")
async def list_service_accounts(api: Api, _: Caller) -> list[ServiceAccount]:
    return [ServiceAccount.of(u) for u in await call(api.identity.list_users, KIND)]


@router.post("", status_code=201)
async def create_service_account(
    body: ServiceAccountCreate, api: Api, caller: Caller
) -> ServiceAccount:
    view = await call(
        api.identity.create_service_account, caller, body.name, body.groups, body.description
    )
    return ServiceAccount.of(view)


@router.get("/{name}")
async def get_service_account(name: str, api: Api, _: Caller) -> ServiceAccount:
    return ServiceAccount.of(await call(api.identity.get_user, name, KIND))


@router.patch("/{name}")
async def update_service_account(
    name: str, body: ServiceAccountUpdate, api: Api, caller: Caller
) -> ServiceAccount:
    view = await call(
        api.identity.update_user,
        caller,
        name,
        KIND,
        groups=body.groups,
        disabled=body.disabled,
        description=body.description,
    )
    return ServiceAccount.of(view)


@router.delete("/{name}", status_code=204)
async def delete_service_account(name: str, api: Api, caller: Caller) -> Response:
    """Deletes the account and its access tokens."""
    await call(api.identity.delete_user, caller, name, KIND)
    return Response(status_code=204)

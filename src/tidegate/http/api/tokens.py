"""``/api/v1/tokens``: access tokens, self-service. A caller manages its own tokens; an admin
anyone's (the identity service enforces it). The secret is in the answer to ``POST`` only."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.identity import TokenView

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


class Token(Strict):
    id: str
    name: str
    principal: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    ends_with_password: bool  # a session token (the web UI's): ends when the password changes

    @classmethod
    def of(cls, view: TokenView) -> Token:
        return cls.model_validate(asdict(view))


class TokenCreate(Strict):
    name: str
    expires_in_days: int | None = None  # 1 to 3650; default 90
    expires_in_hours: int | None = None  # instead of days: 1 to 87600 (short-lived tokens)
    # a session token: only when signed in with your own password; ends when it changes
    ends_with_password: bool = False
    principal: str | None = None  # admin: anyone; others: only themselves


class NewToken(Strict):
    id: str
    name: str
    principal: str
    expires_at: datetime
    token: str  # shown once, never again


@router.get("")
async def list_tokens(
    api: Api,
    caller: Caller,
    principal: str | None = None,
    every: Annotated[bool, Query(alias="all")] = False,
) -> list[Token]:
    """The caller's tokens; an admin may ask for ``principal=`` or ``all=true``."""
    views = await call(api.identity.list_tokens, caller, principal, every)
    return [Token.of(t) for t in views]


@router.post("", status_code=201)
async def create_token(body: TokenCreate, api: Api, caller: Caller) -> NewToken:
    created = await call(
        api.identity.create_token,
        caller,
        body.name,
        body.expires_in_days,
        body.principal,
        body.expires_in_hours,
        body.ends_with_password,
    )
    view = created.view
    return NewToken(
        id=view.id,
        name=view.name,
        principal=view.principal,
        expires_at=view.expires_at,
        token=created.token,
    )


@router.delete("/{token_id}", status_code=204)
async def revoke_token(token_id: str, api: Api, caller: Caller) -> Response:
    """Revokes the token at once (own tokens; an admin any)."""
    await call(api.identity.revoke_token, caller, token_id)
    return Response(status_code=204)

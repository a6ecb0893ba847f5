"""Pages: the signed-in user's own account (``/ui/account``): who they are, their password,
their access tokens and sessions. Everyone signed in; only their own things."""

from __future__ import annotations

import re

from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from tidegate.auth import access_tokens
from tidegate.http.ui import session
from tidegate.http.ui.client import ApiError
from tidegate.http.ui.pages import Ui, UiConfig, redirect, refusal, route_makers

TOKEN_ID = re.compile(r"[a-z0-9]{12}")


async def account(ui: Ui, error: str | None = None, status: int = 200) -> Response:
    tokens = await ui.api.get("/tokens")
    current = access_tokens.parse(ui.credentials.token)
    return ui.render(
        "account.html",
        status=status,
        nav="account",
        tokens=tokens,
        current=current.id if current else None,
        error=error,
    )


async def show(ui: Ui) -> Response:
    return await account(ui)


async def change_password(ui: Ui) -> Response:
    new = ui.field("new_password")
    if new != ui.field("repeat_password"):
        return await account(ui, "the new password and its repetition differ", 400)
    body = {"current_password": ui.field("current_password"), "new_password": new}
    try:
        await ui.api.put("/me/password", body)
    except ApiError as exc:
        return await account(ui, refusal(exc, also=(403, 429)), exc.status)
    # the session token ended with the old password: sign in again with the new one
    response = RedirectResponse("/ui/login?m=password-changed", status_code=303)
    session.clear_cookie(ui.request, response, session.COOKIE)
    return response


async def revoke(ui: Ui) -> Response:
    token_id = ui.field("token")
    if not TOKEN_ID.fullmatch(token_id):
        return await account(ui, "not a token id", 400)
    current = access_tokens.parse(ui.credentials.token)
    if current is not None and token_id == current.id:
        return await account(ui, "this is the session you are using: sign out instead", 400)
    await ui.api.delete(f"/tokens/{token_id}")
    return redirect(ui, "/ui/account", f"token {token_id} revoked")


def routes(config: UiConfig) -> list[BaseRoute]:
    get, post = route_makers(config)
    return [
        get("/account", show),
        post("/account/password", change_password),
        post("/account/tokens/revoke", revoke),
    ]

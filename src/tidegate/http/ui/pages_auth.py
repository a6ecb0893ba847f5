"""Signing in and out (``/ui/login``, ``/ui/logout``)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tidegate.auth import access_tokens
from tidegate.http.auth import client_address
from tidegate.http.ui import session
from tidegate.http.ui.client import ApiClient, ApiError, Credentials, basic
from tidegate.http.ui.pages import LOGIN_MESSAGES, Ui, UiConfig, action, render


def _safe_next(target: str) -> str:
    """Only a path inside the UI: never another site (an open redirect)."""
    path = target.split("?", 1)[0]
    inside = path == "/ui" or path.startswith("/ui/")
    dotted = any(part in (".", "..") for part in unquote(path).split("/"))
    if inside and not dotted and "\\" not in target:
        return target
    return "/ui/"


def routes(config: UiConfig) -> list[Route]:
    async def login_form(request: Request, message: str = "", status: int = 200) -> Response:
        # another tab's sign-in form carries the cookie's nonce: keep it, so that form works
        nonce = session.login_nonce_of(request) or session.new_login_nonce()
        response = render(
            config,
            request,
            "login.html",
            status,
            nonce=nonce,
            message=message or LOGIN_MESSAGES.get(request.query_params.get("m", ""), ""),
            next=_safe_next(request.query_params.get("next", "/ui/")),
        )
        session.set_cookie(request, response, session.LOGIN_COOKIE, nonce, 3600)
        return response

    async def login_get(request: Request) -> Response:
        return await login_form(request)

    async def login_post(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        try:
            session.check_login_nonce(request, form.get("nonce"))
        except session.CsrfRefused as exc:
            return await login_form(request, str(exc), 403)
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        if not username or not password:
            return await login_form(request, "enter your username and password", 400)
        api = ApiClient(config.inner, client_address(request), None)
        try:
            me = await api.sign_in(username, password)
            if me.get("kind") != "user":
                return await login_form(request, LOGIN_MESSAGES["service-account"], 403)
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
            created = await api.request(
                "POST",
                "/tokens",
                json_body={
                    "name": f"ui session {stamp}",
                    "expires_in_hours": config.session_hours,
                    "ends_with_password": True,
                },
                auth=basic(username, password),
            )
        except ApiError as exc:
            status = 429 if exc.status == 429 else 401
            message = exc.message if exc.status == 429 else "wrong username or password"
            return await login_form(request, message, status)
        credentials = Credentials(me["name"], created["token"])
        response = RedirectResponse(_safe_next(str(form.get("next") or "/ui/")), status_code=303)
        session.set_cookie(
            request,
            response,
            session.COOKIE,
            session.encode_session(credentials),
            config.session_hours * 3600,
        )
        session.clear_cookie(request, response, session.LOGIN_COOKIE)
        return response

    async def logout(ui: Ui) -> Response:
        parts = access_tokens.parse(ui.credentials.token)
        if parts is not None:
            # already revoked or expired: signing out still clears the cookie
            with contextlib.suppress(ApiError):
                await ui.api.delete(f"/tokens/{parts.id}")
        response = RedirectResponse("/ui/login?m=signed-out", status_code=303)
        session.clear_cookie(ui.request, response, session.COOKIE)
        return response

    return [
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", action(config, logout), methods=["POST"]),
    ]

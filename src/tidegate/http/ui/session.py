"""The UI session: a cookie that carries the signed-in user's session token, and CSRF checks.

Owns the cookie format and flags and every check a state-changing form post passes:
- signing in creates an access token named ``ui session ...`` through ``POST /api/v1/tokens``,
  expiring after ``ui_session_hours``; the cookie holds it (HttpOnly, SameSite=Strict, Path=/ui,
  Secure over HTTPS). Signing out revokes it, so a copied cookie stops working at once; an admin
  sees (and can revoke) sessions among the user's tokens;
- every POST carries a CSRF token, an HMAC of a per-purpose label keyed by the session token, so
  only a page the server rendered for this session can produce it; the sign-in form is guarded
  by a double-submit cookie; a request whose ``Origin`` names another site is refused whatever
  it carries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tidegate.http.ui.client import Credentials

COOKIE = "tidegate_session"
LOGIN_COOKIE = "tidegate_login"
FLASH_COOKIE = "tidegate_flash"
PATH = "/ui"


class CsrfRefused(Exception):
    """A state-changing request without proof that a page of this session sent it."""


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PATH, httponly=True, samesite="strict", secure=is_https(request)
    )


def encode_session(credentials: Credentials) -> str:
    raw = json.dumps({"u": credentials.username, "t": credentials.token}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_session(value: str | None) -> Credentials | None:
    if not value or len(value) > 1024:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data: Any = json.loads(raw)
        username, token = data["u"], data["t"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(username, str) or not isinstance(token, str):
        return None
    return Credentials(username, token)


def csrf_token(credentials: Credentials) -> str:
    return hmac.new(credentials.token.encode(), b"tidegate-ui-csrf", hashlib.sha256).hexdigest()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_nonce_of(request: Request) -> str | None:
    """The sign-in nonce this browser already holds (one made by ``new_login_nonce``)."""
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    return cookie if re.fullmatch(r"[A-Za-z0-9_-]{32}", cookie) else None


def check_origin(request: Request) -> None:
    """Browsers send ``Origin`` on every POST: one naming another site is refused."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    host = request.headers.get("host", "")
    if origin.split("://", 1)[-1] != host:
        raise CsrfRefused(f"a form of another site ({origin}) may not post here")


def check_csrf(request: Request, credentials: Credentials, sent: object) -> None:
    check_origin(request)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(credentials)):
        raise CsrfRefused("the form is missing its CSRF token or it belongs to another session")


def check_login_nonce(request: Request, sent: object) -> None:
    check_origin(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(sent, cookie):
        raise CsrfRefused("the sign-in form expired or came from another page; try again")

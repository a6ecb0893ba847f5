"""The Docker token endpoint (``/auth/token``): GET with Basic credentials, and the OAuth2
``POST`` form (password and refresh_token grants) that containerd and podman use.

A GET without credentials gets an anonymous token: it grants what permission targets let
anonymous do (often nothing), exactly as Docker Hub answers anonymous pulls."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tidegate.auth.principals import ANONYMOUS, Principal
from tidegate.auth.scopes import parse_scopes
from tidegate.auth.token_service import IssuedToken, TokenService
from tidegate.errors import TooManyRequests, Unauthorized
from tidegate.http.auth import Gatekeeper, parse_basic

_FORM_LIMIT = 64 * 1024


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _unauthorized(message: str) -> Response:
    return JSONResponse(
        {"errors": [{"code": "UNAUTHORIZED", "message": message}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="tidegate"'},
    )


def _oauth_error(error: str, description: str, status: int) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _throttled(exc: TooManyRequests) -> Response:
    return JSONResponse(
        {"errors": [{"code": exc.code, "message": exc.message}]},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after or 60)},
    )


class TokenEndpoint:
    def __init__(self, tokens: TokenService, gatekeeper: Gatekeeper) -> None:
        self.tokens = tokens
        self.gatekeeper = gatekeeper

    async def _basic(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        if not header:
            return ANONYMOUS
        if not header.lower().startswith("basic "):
            raise Unauthorized("use Basic credentials (username and password or access token)")
        creds = parse_basic(header)
        if creds is None:
            raise Unauthorized("malformed Basic credentials")
        return await self.gatekeeper.check_password(request, *creds)

    def _body(self, issued: IssuedToken, oauth: bool) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": _iso(issued.issued_at),
        }
        if oauth:
            body["token_type"] = "Bearer"
            body["scope"] = " ".join(str(s) for s in issued.granted)
        else:
            body["token"] = issued.token
        if issued.refresh_token:
            body["refresh_token"] = issued.refresh_token
        return body

    async def get(self, request: Request) -> Response:
        try:
            principal = await self._basic(request)
        except TooManyRequests as exc:
            return _throttled(exc)
        except Unauthorized as exc:
            return _unauthorized(exc.message)
        scopes = parse_scopes(request.query_params.getlist("scope"))
        offline = request.query_params.get("offline_token", "").lower() == "true"
        issued = self.tokens.issue(principal, scopes, with_refresh=offline)
        return JSONResponse(self._body(issued, oauth=False))

    async def post(self, request: Request) -> Response:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > _FORM_LIMIT:
                return _oauth_error("invalid_request", "the form is too large", 400)
        form = {k: v for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}

        def one(key: str) -> str:
            return (form.get(key) or [""])[0]

        grant = one("grant_type")
        try:
            if grant == "password":
                principal = await self.gatekeeper.check_password(
                    request, one("username"), one("password")
                )
            elif grant == "refresh_token":
                principal = await anyio.to_thread.run_sync(
                    self.tokens.principal_from_refresh, one("refresh_token")
                )
            else:
                return _oauth_error(
                    "unsupported_grant_type", "grant_type must be password or refresh_token", 400
                )
        except TooManyRequests as exc:
            return _throttled(exc)
        except Unauthorized as exc:
            return _oauth_error("invalid_grant", exc.message, 401)
        scopes = parse_scopes(form.get("scope", []))
        offline = one("access_type") == "offline" or grant == "refresh_token"
        issued = self.tokens.issue(principal, scopes, with_refresh=offline)
        if grant == "refresh_token":
            issued = IssuedToken(
                issued.token,
                issued.issued_at,
                issued.expires_in,
                one("refresh_token"),
                issued.granted,
            )
        return JSONResponse(self._body(issued, oauth=True))

"""The Docker token endpoint (``/auth/token``): GET with Basic credentials, and the OAuth2
``POST`` form (password and refresh_token grants) that containerd and podman use."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tidegate.auth.principals import Principal
from tidegate.auth.scopes import parse_scopes
from tidegate.auth.token_service import IssuedToken, TokenService
from tidegate.errors import Unauthorized
from tidegate.http.auth import parse_basic

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


class TokenEndpoint:
    def __init__(self, tokens: TokenService, password_checks: anyio.CapacityLimiter) -> None:
        self.tokens = tokens
        self.password_checks = password_checks

    async def _basic(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        creds = parse_basic(header)
        if creds is None:
            raise Unauthorized("malformed Basic credentials")
        known = self.tokens.credentials.recently_verified(*creds)
        if known is not None:
            return known
        return await anyio.to_thread.run_sync(
            self.tokens.credentials.authenticate, *creds, limiter=self.password_checks
        )

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
        except Unauthorized as exc:
            return _unauthorized(exc.message)
        if principal is None:
            return _unauthorized("authentication required: log in with your username and password")
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
                principal = await anyio.to_thread.run_sync(
                    self.tokens.credentials.authenticate,
                    one("username"),
                    one("password"),
                    limiter=self.password_checks,
                )
            elif grant == "refresh_token":
                principal = await anyio.to_thread.run_sync(
                    self.tokens.principal_from_refresh, one("refresh_token")
                )
            else:
                return _oauth_error(
                    "unsupported_grant_type", "grant_type must be password or refresh_token", 400
                )
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

"""The UI's connection to the public APIs: ``/api/v1`` and ``/v2``, called in-process.

Owns: one call with the signed-in user's credentials (their session's access token, as
``Authorization: Bearer`` for ``/api/v1`` and as the password of Basic credentials for ``/v2``,
exactly as the CLI and the registry clients use it), the client address the APIs audit and
throttle, and turning an error answer into ``ApiError`` with the message the API wrote.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.types import ASGIApp

API = "/api/v1"


class ApiError(Exception):
    """An error answer of the API: its status, OCI error code and the message for people."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


def error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        # /v2 answers the OCI envelope {"errors": [...]}; /api/v1 {"code", "message", "detail"}
        first = body["errors"][0] if "errors" in body else body
        if "message" not in first:
            raise KeyError("message")
        return ApiError(
            response.status_code,
            str(first.get("code", "")),
            str(first.get("message", "")),
            first.get("detail"),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        text = response.text[:200] or response.reason_phrase
        return ApiError(response.status_code, "", text)


def checked_path(path: str) -> str:
    """``path`` unless a segment of it is ``.`` or ``..`` (also percent-encoded): URL
    normalisation would drop or climb it and the call would reach another endpoint
    (``/groups/g/members/..`` is ``DELETE /groups/g``). Raises ApiError 400."""
    for segment in path.split("?", 1)[0].split("/"):
        if unquote(segment) in (".", ".."):
            raise ApiError(400, "INVALID_REQUEST", f"{unquote(segment)!r} is not a valid name here")
    return path


def basic(username: str, secret: str) -> str:
    """An ``Authorization: Basic`` value (a password, or an access token as the password)."""
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    token: str  # an access token, tdg_...


class ApiClient:
    """Calls of one UI request. ``credentials`` None: only the sign-in call may be made."""

    def __init__(self, app: ASGIApp, client_address: str, credentials: Credentials | None) -> None:
        self._app = app
        self._address = client_address
        self.credentials = credentials

    def _client(self, auth: str | None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self._app, client=(self._address, 0))
        headers = {"authorization": auth} if auth else {}
        return httpx.AsyncClient(
            transport=transport, base_url="http://ui.internal", headers=headers
        )

    def _bearer(self) -> str | None:
        return f"Bearer {self.credentials.token}" if self.credentials else None

    def _basic(self) -> str | None:
        if self.credentials is None:
            return None
        return basic(self.credentials.username, self.credentials.token)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        auth: str | None = None,
    ) -> Any:
        """``/api/v1`` + ``path``; the decoded JSON answer (None for 204). Raises ApiError."""
        async with self._client(auth or self._bearer()) as client:
            response = await client.request(
                method, API + checked_path(path), params=params, json=json_body
            )
        if response.status_code >= 400:
            raise error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "", [])}
        return await self.request("GET", path, params=clean)

    async def get_bytes(self, path: str, **params: Any) -> bytes:
        """``GET /api/v1`` + ``path`` answered with something other than JSON (an export)."""
        clean = {k: v for k, v in params.items() if v not in (None, "", [])}
        async with self._client(self._bearer()) as client:
            response = await client.get(API + checked_path(path), params=clean)
        if response.status_code >= 400:
            raise error_of(response)
        return response.content

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.request("POST", path, json_body=body, params=params or None)

    async def put(self, path: str, body: Any = None) -> Any:
        return await self.request("PUT", path, json_body=body)

    async def patch(self, path: str, body: Any = None) -> Any:
        return await self.request("PATCH", path, json_body=body)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, params=params or None)

    async def sign_in(self, username: str, password: str) -> Any:
        """``GET /api/v1/me`` with a password: who this is (raises ApiError when refused)."""
        return await self.request("GET", "/me", auth=basic(username, password))

    async def registry(self, path: str, accept: str = "") -> tuple[httpx.Headers, Any]:
        """``GET /v2/`` + ``path`` (manifests, referrers, small config blobs): headers and
        decoded JSON. Raises ApiError."""
        headers = {"accept": accept} if accept else {}
        async with self._client(self._basic()) as client:
            response = await client.get("/v2/" + checked_path(path), headers=headers)
        if response.status_code >= 400:
            raise error_of(response)
        try:
            return response.headers, json.loads(response.content)
        except ValueError:
            return response.headers, None

"""The management API application: its routers, JSON errors, body limit and OpenAPI document.

Wiring (``tidegate/app.py``)::

    api = build_api(ApiServices(gatekeeper, identity, permissions, audit, promotions,
                                properties, repositories))
    build_asgi(v2, token_endpoint, ready, on_shutdown, api=api)

where ``gatekeeper`` is the ``http.auth.Gatekeeper`` (its ``authenticate_api``), ``identity``
an ``IdentityService``, ``permissions`` a ``PermissionTargetService`` and ``audit`` the
``AuditLog`` (queried by ``/audit``; refusals of API calls are recorded through it), and the
``PromotionService``, ``PropertyService`` and ``RepositoryService`` (docs/promotion.md).

Errors: every ``TidegateError`` answers ``{"code", "message"}`` (+ ``"detail"``) with the status
of ``http/errors.py:STATUS``; 401 carries ``WWW-Authenticate: Basic realm="tidegate"``, 429
``Retry-After``. A body that is not JSON, not an object or larger than ``MAX_BODY`` is 400
``INVALID_REQUEST``; a JSON object with wrong fields 422 ``INVALID_REQUEST``, naming them.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidegate.errors import (
    Denied,
    GateRefused,
    InvalidRequest,
    NotFound,
    TidegateError,
    TooManyRequests,
    Unsupported,
)
from tidegate.http.api import (
    artifactory,
    audit,
    cleanup,
    gc,
    groups,
    me,
    permissions,
    promotions,
    properties,
    repositories,
    search,
    service_accounts,
    tokens,
    users,
    webhooks,
)
from tidegate.http.api.deps import PREFIX, ApiServices, api_services, route_needs
from tidegate.http.api.schema import ErrorBody
from tidegate.http.errors import status_for

log = structlog.get_logger("tidegate.api")

MAX_BODY = 256 * 1024
BASIC_CHALLENGE = 'Basic realm="tidegate"'

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [
        (400, "Malformed request (INVALID_REQUEST)"),
        (401, "No or wrong credentials (UNAUTHORIZED)"),
        (403, "Not allowed (DENIED)"),
        (404, "No such thing (NOT_FOUND)"),
        (409, "Conflicts with the current state (CONFLICT), or a gate refused (GATE_REFUSED)"),
        (422, "Fields missing or of the wrong type (INVALID_REQUEST)"),
        (429, "Too many failed logins from this address (TOOMANYREQUESTS)"),
    ]
}


class TidegateAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """The generated document, plus how to authenticate (Basic, or a Bearer token)."""
        schema = super().openapi()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault("basic", {"type": "http", "scheme": "basic"})
        schemes.setdefault(
            "bearer",
            {"type": "http", "scheme": "bearer", "description": "an access token (tdg_...)"},
        )
        schema.setdefault("security", [{"basic": []}, {"bearer": []}])
        return schema


def error_response(error: TidegateError) -> JSONResponse:
    status = status_for(error)
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.detail is not None:
        body["detail"] = jsonable_encoder(error.detail)
    if isinstance(error, GateRefused):  # docs/promotion.md: at the top level, as documented
        body["failed"] = jsonable_encoder(error.failed)
        body["evaluation"] = jsonable_encoder(error.evaluation)
    headers = dict(getattr(error, "headers", {}))
    if status == 401:  # the API's own challenge, whatever the wire protocol would say
        headers["WWW-Authenticate"] = BASIC_CHALLENGE
    if isinstance(error, TooManyRequests) and error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(body, status_code=status, headers=headers)


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TidegateError)
    principal = getattr(request.state, "principal", None)
    if isinstance(exc, Denied) and principal is not None:
        target = f"{request.method} {request.url.path}"
        api_services(request).gatekeeper.refused(request, principal, target, exc.message)
    return error_response(exc)


def _field(loc: tuple[Any, ...]) -> str:
    where, path = (loc[0], loc[1:]) if loc else ("body", ())
    name = ".".join(str(p) for p in path)
    if where == "body":
        return name
    return f"{where} parameter {name}" if name else f"{where} parameter"


def _problem(error: dict[str, Any]) -> str:
    """One validation error in words; never echoes the input (it may be a password)."""
    field = _field(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "missing":
        return f"{field} is required"
    return f"{field}: {error.get('msg', 'invalid')}"


async def on_invalid_request(request: Request, exc: Exception) -> Response:
    """400 when the body as a whole is wrong (not JSON, not an object), 422 for its fields."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    whole = next((e for e in errors if tuple(e.get("loc", ())) == ("body",)), None)
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:
        reason = (broken.get("ctx") or {}).get("error", "malformed")
        where = broken.get("loc", ("body", "?"))[-1]
        message = f"the request body is not valid JSON: {reason} (character {where})"
        return error_response(InvalidRequest(message))
    if whole is not None:
        if whole.get("type") == "missing":
            return error_response(InvalidRequest("a JSON object body is required"))
        return error_response(
            InvalidRequest(
                "the request body must be a JSON object (Content-Type: application/json)"
            )
        )
    problems = [_problem(e) for e in errors]
    detail = [{"field": _field(tuple(e.get("loc", ()))), "problem": e.get("msg")} for e in errors]
    response = error_response(InvalidRequest("; ".join(problems[:5]), detail))
    response.status_code = 422
    return response


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (no such route, wrong method, unreadable body) in our shape."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, TidegateError):
        return error_response(exc.__cause__)
    error: TidegateError
    if exc.status_code == 404:
        error = NotFound(f"no such endpoint: {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = Unsupported(f"{request.method} is not allowed on {request.url.path}")
    else:
        error = InvalidRequest(str(exc.detail))
    response = error_response(error)
    response.headers.update(exc.headers or {})
    return response


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", path=request.url.path, method=request.method, exc_info=exc)
    return JSONResponse({"code": "UNKNOWN", "message": "internal server error"}, status_code=500)


class BodyTooLarge(InvalidRequest):
    pass


class BodyLimit:
    """Refuses a request body over ``limit`` bytes (400) without reading more of it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = BodyTooLarge(f"the request body is larger than {self.limit} bytes")
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await error_response(too_large)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_large
            return message

        await self.app(scope, limited, send)


def build_api(services: ApiServices) -> ASGIApp:
    """The ``/api/v1`` application. Refuses to build when a route is missing from
    ``deps.ACCESS`` (every route says whether it is for admins or any signed-in caller)."""
    api = TidegateAPI(
        title="Tidegate management API",
        version="1",
        description="Users, service accounts, groups, access tokens, permission targets, audit,"
        " repositories and gates, promotions, properties, garbage collection, storage."
        " Authenticate with Basic credentials (a password or an access token) or"
        " `Authorization: Bearer tdg_...`.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        exception_handlers={
            TidegateError: on_domain_error,
            RequestValidationError: on_invalid_request,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    api.state.services = services
    routers = [me, users, service_accounts, groups, tokens, permissions, audit]
    routers += [repositories, promotions, properties, search, artifactory, cleanup, gc]
    routers += [webhooks]
    for module in routers:
        api.include_router(module.router, responses=ERROR_RESPONSES)
    missing = [
        f"{method} {route.path}"
        for route in api.routes
        if isinstance(route, APIRoute)
        for method, need in route_needs(route).items()
        if need is None
    ]
    if missing:
        raise RuntimeError(f"routes without an entry in http/api/deps.py ACCESS: {missing}")
    return BodyLimit(api, MAX_BODY)

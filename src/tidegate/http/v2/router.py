"""The ``/v2`` dispatcher: one route table, and authorization derived once per route.

Names contain slashes, so routes are matched by regular expressions on the whole path, most
specific first. Each route says what it needs; the dispatcher authenticates and authorizes
before a handler runs, and maps every domain error through the one error table.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tidegate.errors import BlobUploadInvalid, NotFound, TidegateError, Unsupported
from tidegate.http.auth import Requirement
from tidegate.http.errors import WithHeaders, oci_error_response
from tidegate.http.observe import ROUTE_KEY
from tidegate.http.v2 import blobs, listings, manifests, uploads
from tidegate.http.v2.context import Ctx, Services
from tidegate.oci.manifest import MAX_MANIFEST_BYTES

log = structlog.get_logger("tidegate.v2")

Handler = Callable[[Ctx], Awaitable[ASGIApp]]

_NAME = r"(?P<name>.+?)"


@dataclass(frozen=True, slots=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler
    action: str | None  # wire action on the route's name; None: authenticated only
    label: str  # the route template, for metrics: /v2/{name}/manifests/{reference}


def _route(methods: str, pattern: str, handler: Handler, action: str | None) -> Route:
    # DOTALL: a name with a newline must reach the name check (NAME_INVALID), not fall through
    pattern_re = re.compile(f"/v2/{pattern}", re.DOTALL)
    label = "/v2/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).replace("/?", "/")
    return Route(frozenset(methods.split()), pattern_re, handler, action, label)


ROUTES: tuple[Route, ...] = (
    _route("GET HEAD", "", listings.base, None),
    _route("GET", "_catalog", listings.catalog, "catalog"),
    _route("GET", f"{_NAME}/tags/list", listings.list_tags, "pull"),
    _route("GET HEAD", f"{_NAME}/manifests/(?P<reference>[^/]+)", manifests.get_manifest, "pull"),
    _route("PUT", f"{_NAME}/manifests/(?P<reference>[^/]+)", manifests.put_manifest, "push"),
    _route(
        "DELETE", f"{_NAME}/manifests/(?P<reference>[^/]+)", manifests.delete_manifest, "delete"
    ),
    _route("POST", f"{_NAME}/blobs/uploads/?", uploads.start_upload, "push"),
    _route("PATCH", f"{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", uploads.patch_upload, "push"),
    _route("PUT", f"{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", uploads.finish_upload, "push"),
    _route("GET", f"{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", uploads.upload_status, "push"),
    _route("DELETE", f"{_NAME}/blobs/uploads/(?P<uuid>[^/]+)", uploads.cancel_upload, "push"),
    _route("GET HEAD", f"{_NAME}/blobs/(?P<digest>[^/]+)", blobs.get_blob, "pull"),
    _route("DELETE", f"{_NAME}/blobs/(?P<digest>[^/]+)", blobs.delete_blob, "delete"),
    _route("GET", f"{_NAME}/referrers/(?P<digest>[^/]+)", listings.referrers, "pull"),
)

_API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
_DRAIN_LIMIT = MAX_MANIFEST_BYTES


class MethodNotAllowed(Unsupported, WithHeaders):
    def __init__(self, method: str, path: str, allowed: frozenset[str]) -> None:
        super().__init__(f"{method} is not supported on {path}")
        self.headers = {"Allow": ", ".join(sorted(allowed))}


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], frozenset[str]]:
    """(route, params, allowed): ``allowed`` lists the methods the path supports."""
    allowed: frozenset[str] = frozenset()
    for route in ROUTES:
        m = route.pattern.fullmatch(path)
        if m is None:
            continue
        if method in route.methods:
            return route, m.groupdict(), allowed | route.methods
        allowed |= route.methods
    return None, {}, allowed


def requirement_for(route: Route, params: dict[str, str]) -> Requirement:
    if route.action is None:
        return Requirement()
    if route.action == "catalog":
        return Requirement("registry", "catalog", "*")
    return Requirement("repository", params["name"], route.action)


def mount_source(route: Route, request: Request) -> Requirement | None:
    """A cross-repository mount would like read access to its source."""
    source = request.query_params.get("from")
    if route.handler is uploads.start_upload and source and request.query_params.get("mount"):
        return Requirement("repository", source, "pull", ask_broadly=False)
    return None


class V2App:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        head = request.method == "HEAD"
        response: ASGIApp
        try:
            response = await self._dispatch(request)
        except TidegateError as exc:
            response = oci_error_response(exc, None, head)
        except ClientDisconnect:
            # The client went away mid-body: nothing was committed; an upload keeps what it got.
            log.info("client disconnected", path=request.scope["path"], method=request.method)
            response = oci_error_response(
                BlobUploadInvalid("the client disconnected before the body was complete"),
                None,
                head,
            )
        except Exception:
            log.exception("unhandled error", path=request.scope["path"], method=request.method)
            response = oci_error_response(
                TidegateError("internal error; the request was not completed"), None, head
            )
        if isinstance(response, Response):
            response.headers.update(_API_VERSION)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> ASGIApp:
        route, params, allowed = match(request.method, request.scope["path"])
        if route is not None:
            request.scope[ROUTE_KEY] = route.label
        if route is None:
            if allowed:
                raise MethodNotAllowed(request.method, request.url.path, allowed)
            raise NotFound(f"no registry endpoint at {request.url.path}")
        try:
            caller = await self.services.gatekeeper.check(
                request, requirement_for(route, params), mount_source(route, request)
            )
        except TidegateError:
            await _drain_small_body(request)
            raise
        return await route.handler(Ctx(request, params, caller, self.services))


async def _drain_small_body(request: Request) -> None:
    """Read (and drop) a small body before refusing the request: a client that streams a
    manifest through a pipe (containerd's ctr) otherwise sees the connection close under it
    and reports "read/write on closed pipe" instead of the 401/403 it was sent."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or not 0 < int(declared) <= _DRAIN_LIMIT:
        return
    with anyio.move_on_after(5):
        try:
            async for _ in request.stream():
                pass
        except ClientDisconnect:
            return

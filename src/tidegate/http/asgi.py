"""The top-level ASGI application: ``/v2`` (the registry API, a bare dispatcher for speed),
``/api/v1`` (the management API, a FastAPI app), ``/auth/token``, and a Starlette app for
health and everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tidegate.http.observe import ROUTE_KEY
from tidegate.http.token import TokenEndpoint
from tidegate.http.v2.router import V2App

API_PREFIX = "/api/v1"
ARTIFACTORY_PREFIX = "/artifactory/api/"  # the Artifactory-compatible subset (docs/promotion.md)
log = structlog.get_logger("tidegate.http")
_FIXED = frozenset({"/healthz", "/readyz", "/metrics", "/auth/token"})  # their own metric label


def build_asgi(
    v2: V2App,
    token: TokenEndpoint,
    ready: Callable[[], None],
    on_shutdown: Callable[[], None],
    api: Callable[[], ASGIApp] | None = None,
    metrics: Callable[[], bytes] | None = None,
    on_startup: Callable[[], None] | None = None,
    ui: Callable[[ASGIApp], ASGIApp] | None = None,
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``ui`` builds the web UI around the returned app itself: its pages call ``/api/v1`` and
    ``/v2`` in-process, as any client would over the network."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            ready()
        except Exception as exc:  # report, do not crash: this is a probe
            # the kind of failure only: the details (hosts, ports, paths) go to the log
            log.warning("readiness check failed", error=str(exc))
            reason = type(exc).__name__
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def to_ui(_: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    async def metrics_text(_: Request) -> Response:
        """Prometheus text format (summed over the workers of one ``tidegate serve``)."""
        body = metrics() if metrics is not None else b""
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            on_startup()  # event delivery and the periodic scheduler
        yield
        on_shutdown()

    web = Starlette(
        routes=[
            Route("/", to_ui),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_text),
            Route("/auth/token", token.get, methods=["GET"]),
            Route("/auth/token", token.post, methods=["POST"]),
        ],
        lifespan=lifespan,
    )

    built: list[ASGIApp] = []

    def management() -> ASGIApp:
        """The management API is built on its first request: FastAPI and its models cost
        ~16 MB per worker, which a registry that is only pulled from never needs."""
        if not built:
            assert api is not None
            built.append(api())
        return built[0]

    web_ui: list[ASGIApp] = []

    def pages() -> ASGIApp:
        """The UI, built on its first request like the management API."""
        if not web_ui:
            assert ui is not None
            web_ui.append(ui(app))
        return web_ui[0]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/v2/"):
                await v2(scope, receive, send)
                return
            if path == "/v2":
                scope["path"] = "/v2/"
                await v2(scope, receive, send)
                return
            if path in _FIXED:
                scope[ROUTE_KEY] = path
            if api is not None and (
                path == API_PREFIX or path.startswith((API_PREFIX + "/", ARTIFACTORY_PREFIX))
            ):
                await management()(scope, receive, send)
                return
            if ui is not None and (path == "/ui" or path.startswith("/ui/")):
                scope[ROUTE_KEY] = "/ui"
                await pages()(scope, receive, send)
                return
        await web(scope, receive, send)

    return app

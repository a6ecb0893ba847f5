"""The UI's Starlette app: its routes (one module per group of pages) and static files."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from tidegate.http.ui import (
    pages_account,
    pages_admin,
    pages_admin_access,
    pages_admin_repos,
    pages_admin_webhooks,
    pages_auth,
    pages_browse,
    pages_ops,
)
from tidegate.http.ui.pages import UiConfig, http_error_page
from tidegate.http.ui.render import environment

STATIC = Path(__file__).parent / "static"


def build_ui(inner: ASGIApp, session_hours: int = 8, registry_host: str | None = None) -> ASGIApp:
    """The app mounted at ``/ui``; ``inner`` is the registry's own app (``/api/v1``, ``/v2``)."""
    config = UiConfig(inner, environment(), session_hours, registry_host)

    async def to_home(_: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    routes: list[BaseRoute] = [
        *pages_auth.routes(config),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    modules = (
        pages_browse,
        pages_admin,
        pages_admin_access,
        pages_admin_repos,
        pages_admin_webhooks,
        pages_ops,
        pages_account,
    )
    for module in modules:  # each: routes(config) -> [Route]
        routes.extend(module.routes(config))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return http_error_page(config, request, exc)

    return Starlette(
        routes=[Route("/ui", to_home), Mount("/ui", routes=routes)],
        exception_handlers={HTTPException: http_error},
    )

"""Pages: admin (placeholder until built)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from tidegate.http.ui.pages import UiConfig


def routes(config: UiConfig) -> list[BaseRoute]:
    return []

"""Pages: the pipeline (home), repositories, images, promotion, properties, search."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidegate.http.ui.pages import Ui, UiConfig, page


def routes(config: UiConfig) -> list[BaseRoute]:
    async def home(ui: Ui) -> Response:
        return ui.render("home.html")

    return [Route("/", page(config, home))]

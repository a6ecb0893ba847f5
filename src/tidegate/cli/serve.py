"""``tidegate serve``: first-start bootstrap in this process, then the ASGI server."""

from __future__ import annotations

import os

from rich.console import Console

from tidegate.config import Settings
from tidegate.db import Database
from tidegate.services.bootstrap import bootstrap


def run(settings: Settings, out: Console) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TIDEGATE_DATA"] = str(settings.data_dir.resolve())
    db = Database(settings.resolved_database_url)
    result = bootstrap(db, settings)
    db.dispose()
    url = f"http://{settings.listen}"
    out.print(f"Tidegate listening on [bold]{url}[/bold] (data in {settings.data_dir.resolve()})")
    if result.admin_password:
        out.print(
            "First start: created user [bold]admin[/bold] with password "
            f"[bold]{result.admin_password}[/bold]\n"
            "  It is shown only this once. Log in with: "
            f"podman login --tls-verify=false {settings.listen} -u admin"
        )
    elif result.first_start:
        out.print("First start: created user [bold]admin[/bold] with the configured password.")
    if settings.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            "tidegate.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="warning",
        )
        return
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "tidegate.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        log_access=False,
    ).serve()

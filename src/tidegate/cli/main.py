"""``tidegate`` entry point: ``serve``, ``config check``, and the remote commands (``login``,
``logout``, ``user``, ``sa``, ``group``, ``token``, ``perm``, ``promote``, ``props``, ``gate``,
``repo``, ``cleanup``, ``trash``, ``gc``, ``job``, ``storage``, ``webhook``, ``notify``,
``audit``)
that talk to ``/api/v1``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from tidegate.cli import (
    audit,
    cleanup,
    gate,
    gc,
    groups,
    login,
    permissions,
    promote,
    props,
    repos,
    search,
    service_accounts,
    tokens,
    trash,
    users,
    webhooks,
)
from tidegate.cli.client import CliError
from tidegate.config import Settings, load_settings
from tidegate.errors import ConfigInvalid

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Tidegate OCI registry")
config_app = typer.Typer(no_args_is_help=True, help="Configuration tools")
app.add_typer(config_app, name="config")
err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here
    typer.Option("--config", "-c", help="YAML config file (or TIDEGATE_CONFIG)"),
]


def _load(config: Path | None) -> Settings:
    from tidegate.services.retention import check_configured

    try:
        settings = load_settings(config)
        check_configured(settings.repositories or [])
        return settings
    except ConfigInvalid as exc:
        err.print(f"[red]error:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the registry (SQLite + local disk by default; nothing else to start)."""
    from tidegate.cli.serve import AddressInUse, BootstrapFailed, run

    settings = _load(config)
    if config is not None:
        os.environ["TIDEGATE_CONFIG"] = str(config.resolve())
    try:
        run(settings, out)
    except (AddressInUse, BootstrapFailed) as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


@config_app.command("check")
def config_check(file: Path) -> None:
    """Validate a config file and print the effective settings (secrets hidden)."""
    settings = _load(file)
    out.print(f"[green]ok[/green]: {file} is valid")
    out.print_json(data=settings.redacted())


# Remote commands, over /api/v1 (docs/access.md "CLI").
app.command()(login.login)
app.command()(login.logout)
app.add_typer(users.app, name="user")
app.add_typer(service_accounts.app, name="sa")
app.add_typer(groups.app, name="group")
app.add_typer(tokens.app, name="token")
app.add_typer(permissions.app, name="perm")
# Promotion, properties and gates (docs/promotion.md).
app.command()(promote.promote)
app.add_typer(props.app, name="props")
app.add_typer(gate.app, name="gate")
app.command()(search.search)
# Repositories: local, remote, virtual (docs/remote-virtual.md).
app.add_typer(repos.app, name="repo")
repos.app.command("retention")(cleanup.retention)
# Lifecycle: cleanup plans and the trash (docs/lifecycle.md).
app.add_typer(cleanup.app, name="cleanup")
app.add_typer(trash.app, name="trash")
# Events, notifications and the audit log (docs/events.md).
app.add_typer(webhooks.app, name="webhook")
app.add_typer(webhooks.notify_app, name="notify")
app.command()(audit.audit)
# Lifecycle: garbage collection, jobs, storage accounting (docs/lifecycle.md).
app.command()(gc.gc)
app.command()(gc.job)
app.command()(gc.storage)


def main() -> None:
    try:
        app()
    except CliError as exc:  # a remote command's failure: one line, and its exit code
        err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)

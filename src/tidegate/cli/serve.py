"""``tidegate serve``: first-start bootstrap in a short-lived child process, then the ASGI server.

The bootstrap (migrations, default repositories, admin user) runs in a child process so that
this supervising process never loads the database stack: it stays small, which counts because
the memory target covers every server process.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from tidegate.config import Settings


def bootstrap_main() -> None:
    """Entry point of the bootstrap child: settings from the environment, result as JSON."""
    from tidegate.config import load_settings
    from tidegate.db import Database
    from tidegate.errors import TidegateError
    from tidegate.services.bootstrap import bootstrap

    settings = load_settings()
    db = Database(settings.resolved_database_url)
    try:
        result = bootstrap(db, settings)
    except TidegateError as exc:  # a refusal with a message for people, not a traceback
        print(f"{_REFUSAL}{exc.message}", file=sys.stderr)
        sys.exit(2)
    finally:
        db.dispose()
    print(json.dumps({"first_start": result.first_start, "password": result.admin_password}))


_REFUSAL = "tidegate-refusal: "


class BootstrapFailed(Exception):
    pass


def _bootstrap_in_child() -> tuple[bool, str | None]:
    code = "from tidegate.cli.serve import bootstrap_main; bootstrap_main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        if last.startswith(_REFUSAL):
            raise BootstrapFailed(last.removeprefix(_REFUSAL))
        raise BootstrapFailed(f"first-start setup failed: {last}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return bool(answer["first_start"]), answer["password"]


class AddressInUse(Exception):
    pass


def _check_port_free(host: str, port: int) -> None:
    """granian binds with SO_REUSEPORT, so a second server on a busy port would start and
    silently share the traffic with the first. Refuse instead."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AddressInUse(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is another Tidegate (or"
                " another program) running there? Choose another address with"
                " TIDEGATE_LISTEN=HOST:PORT or `listen:` in the config."
            ) from None


def _private_data(settings: Settings) -> None:
    """Everything the server writes is for its own user only: the database holds password
    hashes and the token signing key, so a world-readable file would let any local user forge
    admin tokens. New files: the umask; an existing data directory: closed to others."""
    os.umask(0o077)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for path in (settings.data_dir, settings.storage_root):
        try:
            if path.exists() and path.stat().st_uid == os.getuid():
                path.chmod(0o700)
        except OSError:
            pass  # not ours to change: the operator chose its permissions
    database = settings.resolved_database_url
    if database.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm", "-generation"):
            file = Path(database.removeprefix("sqlite:///") + suffix)
            if file.exists() and file.stat().st_uid == os.getuid():
                file.chmod(0o600)


def _metrics_dir(settings: Settings) -> None:
    """A fresh directory per run where every worker writes its metrics (prometheus_client's
    multiprocess mode), so ``/metrics`` sums the workers. Earlier runs' directories go."""
    root = settings.data_dir.resolve() / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and old.name.startswith("run-"):
            shutil.rmtree(old, ignore_errors=True)
    current = root / f"run-{os.getpid()}"
    current.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(current)


def run(settings: Settings, out: Console) -> None:
    _check_port_free(settings.host, settings.port)
    _private_data(settings)
    os.environ["TIDEGATE_DATA"] = str(settings.data_dir.resolve())
    first_start, admin_password = _bootstrap_in_child()
    _metrics_dir(settings)
    scheme = "https" if settings.tls else "http"
    url = f"{scheme}://{settings.listen}"

    def say(text: str) -> None:
        out.print(text, soft_wrap=True)  # never wrap a password or a command

    say(f"Tidegate listening on [bold]{url}[/bold] (data in {settings.data_dir.resolve()})")
    if admin_password:
        say(
            "First start: created user [bold]admin[/bold] with password "
            f"[bold]{admin_password}[/bold]"
        )
        say("  It is shown only this once. Log in with:")
        flag = "" if settings.tls else " --tls-verify=false"
        say(f"  podman login{flag} -u admin {settings.listen}")
    elif first_start:
        say("First start: created user [bold]admin[/bold] with the configured password.")
    say(f"Web UI: {url}/ui/ (sign in as a Tidegate user)")
    tls = settings.tls
    if settings.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            "tidegate.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="warning",
            ssl_certfile=str(tls.cert) if tls else None,
            ssl_keyfile=str(tls.key) if tls else None,
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
        ssl_cert=tls.cert.resolve() if tls else None,
        ssl_key=tls.key.resolve() if tls else None,
    ).serve()

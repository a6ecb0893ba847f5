"""Start a real ``tidegate serve`` process for tests, on a free loopback port, in its own data
directory; stop it by PID even when the test fails."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

TIDEGATE = Path(sys.executable).with_name("tidegate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    host: str
    url: str
    username: str
    password: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.auth, timeout=60, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"tidegate exited early ({proc.returncode}):\n{log_path.read_text()}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"tidegate did not become ready:\n{log_path.read_text()}")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@contextmanager
def tidegate_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    config: Path | None = None,
    password: str | None = None,
) -> Iterator[RunningServer]:
    """Run ``tidegate serve`` until the block ends (SIGTERM, then SIGKILL, by process group)."""
    port = free_port()
    password = password or secrets.token_urlsafe(12)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    full_env = {
        **os.environ,
        "TIDEGATE_DATA": str(data_dir),
        "TIDEGATE_LISTEN": f"127.0.0.1:{port}",
        "TIDEGATE_ADMIN_PASSWORD": password,
        **(env or {}),
    }
    args = [str(TIDEGATE), "serve"] + (["--config", str(config)] if config else [])
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log_path)
        yield RunningServer(f"127.0.0.1:{port}", url, "admin", password, data_dir, proc, log_path)
    finally:
        stop(proc)

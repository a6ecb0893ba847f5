"""Processes the e2e tests start: the registry under test and the client daemons.

Every process is started by us, remembered by its Popen (PID) and stopped by that PID only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from ._cmd import run, tail

REFERENCE_ENV = "TIDEGATE_E2E_REFERENCE"
REPO_KEY = "dev"  # Tidegate's default local repository for developers


def reference_mode() -> bool:
    """True when the suite drives Debian's reference registry instead of Tidegate."""
    return os.environ.get(REFERENCE_ENV, "") not in ("", "0", "false", "no")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(line[:400] for line in text.splitlines()[-lines:])


@dataclass
class Daemon:
    """A process we started, with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the PID we started; after `grace` seconds SIGKILL its process group (it was
        started as a session leader, so the group is its own: e.g. a server's worker processes)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def spawn(
    name: str, argv: Sequence[str | Path], log: Path, env: Mapping[str, str] | None = None
) -> Daemon:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=log.parent,
            start_new_session=True,  # a Ctrl-C in the terminal must not reach it before teardown
        )
    return Daemon(name, proc, log)


def wait_until(daemon: Daemon, ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `ready` until true; fail early with the daemon's log when it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            raise RuntimeError(
                f"{daemon.name} exited with status {daemon.proc.returncode} before {what}\n"
                f"--- {daemon.log} ---\n{log_tail(daemon.log)}"
            )
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.2)
    raise RuntimeError(
        f"{daemon.name} not ready ({what}) after {timeout:.0f}s\n"
        f"--- {daemon.log} ---\n{log_tail(daemon.log)}"
    )


@dataclass
class Registry:
    """The registry under test, as the tests see it."""

    host: str  # "127.0.0.1:PORT"
    username: str
    password: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path
    kind: str  # "tidegate" or "reference"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def is_reference(self) -> bool:
        return self.kind == "reference"


def _http_status(url: str) -> int:
    return httpx.get(url, timeout=2.0).status_code


def tidegate_executable() -> Path:
    return Path(sys.executable).with_name("tidegate")


@contextlib.contextmanager
def tidegate_registry(workdir: Path, config: str | None = None) -> Iterator[Registry]:
    """`tidegate serve` on a free loopback port, data in `workdir`; ready when /healthz is 200.
    ``config``: YAML text of a config file to start with (``TIDEGATE_CONFIG``)."""
    exe = tidegate_executable()
    if not exe.exists():
        raise RuntimeError(f"{exe} not found: install the project into the venv (pip install -e .)")
    port = free_port()
    password = secrets.token_urlsafe(18)
    data = workdir / "data"
    data.mkdir(parents=True)
    env = {
        "TIDEGATE_DATA": str(data),
        "TIDEGATE_LISTEN": f"127.0.0.1:{port}",
        "TIDEGATE_ADMIN_PASSWORD": password,
    }
    if config is not None:
        (workdir / "tidegate.yaml").write_text(config)
        env["TIDEGATE_CONFIG"] = str(workdir / "tidegate.yaml")
    daemon = spawn("tidegate", [exe, "serve"], workdir / "tidegate.log", env)
    try:
        healthz = f"http://127.0.0.1:{port}/healthz"
        wait_until(daemon, lambda: _http_status(healthz) == 200, 30, f"GET {healthz} -> 200")
        yield Registry(
            f"127.0.0.1:{port}", "admin", password, data, daemon.proc, daemon.log, "tidegate"
        )
    finally:
        daemon.stop()


REFERENCE_CONFIG = """\
# CNCF distribution 2.8 (Debian docker-registry), written by tests/e2e
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
auth:
  htpasswd:
    realm: tidegate-e2e
    path: {htpasswd}
"""


@contextlib.contextmanager
def reference_registry(workdir: Path) -> Iterator[Registry]:
    """Debian's `docker-registry serve` with bcrypt htpasswd auth, data in `workdir`."""
    for tool in ("docker-registry", "htpasswd"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not installed: run scripts/system-deps")
    port = free_port()
    password = secrets.token_urlsafe(18)
    data = workdir / "data"
    data.mkdir(parents=True)
    htpasswd = workdir / "htpasswd"
    # distribution accepts only bcrypt entries
    htpasswd.write_text(run(["htpasswd", "-Bbn", "admin", password]).stdout.strip() + "\n")
    config = workdir / "config.yml"
    config.write_text(
        REFERENCE_CONFIG.format(
            data=data, port=port, secret=secrets.token_hex(16), htpasswd=htpasswd
        )
    )
    daemon = spawn(
        "docker-registry", ["docker-registry", "serve", config], workdir / "registry.log"
    )
    try:
        v2 = f"http://127.0.0.1:{port}/v2/"
        wait_until(daemon, lambda: _http_status(v2) == 401, 30, f"GET {v2} -> 401")
        yield Registry(
            f"127.0.0.1:{port}", "admin", password, data, daemon.proc, daemon.log, "reference"
        )
    finally:
        daemon.stop()


# ---------------------------------------------------------------------- client daemons
CONTAINERD_CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""


@contextlib.contextmanager
def containerd_daemon(workdir: Path) -> Iterator[Path]:
    """A private containerd (own root, state, socket; CRI off). Yields its socket path."""
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        raise RuntimeError("containerd/ctr not installed: run scripts/system-deps")
    sock = workdir / "c.sock"
    config = workdir / "config.toml"
    config.write_text(
        CONTAINERD_CONFIG.format(root=workdir / "root", state=workdir / "state", sock=sock)
    )
    daemon = spawn("containerd", ["containerd", "--config", config], workdir / "containerd.log")
    try:

        def ready() -> bool:
            if not sock.exists():
                return False
            probe = ["ctr", "-a", str(sock), "--connect-timeout", "2s", "version"]
            return run(probe, timeout=15, check=False).returncode == 0

        wait_until(daemon, ready, 30, "ctr version answers")
        yield sock
    finally:
        daemon.stop()


class DockerUnavailable(RuntimeError):
    """dockerd cannot start on this machine (an environment limit, not a registry failure)."""


@contextlib.contextmanager
def docker_daemon(workdir: Path, insecure_registry: str) -> Iterator[Path]:
    """A private dockerd (vfs, no networking setup) trusting `insecure_registry` over plain HTTP.

    Yields its socket path. Raises DockerUnavailable when dockerd is missing or does not start.
    """
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        raise DockerUnavailable("dockerd/docker not installed (scripts/system-deps installs them)")
    sock = workdir / "d.sock"
    config = workdir / "daemon.json"
    config.write_text("{}\n")  # never read the machine's /etc/docker/daemon.json
    argv: list[str | Path] = [
        "dockerd",
        "--config-file", config,
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "--data-root", workdir / "root",
        "--exec-root", workdir / "exec",
        "--pidfile", workdir / "dockerd.pid",
        "-H", f"unix://{sock}",
        "--insecure-registry", insecure_registry,
    ]  # fmt: skip
    daemon = spawn("dockerd", argv, workdir / "dockerd.log")
    try:

        def ready() -> bool:
            if not sock.exists():
                return False
            probe = ["docker", "-H", f"unix://{sock}", "version"]
            return run(probe, timeout=15, check=False).returncode == 0

        try:
            wait_until(daemon, ready, 45, "docker version answers")
        except RuntimeError as exc:
            raise DockerUnavailable(
                f"private dockerd did not start: {tail(str(exc), 1500)}"
            ) from exc
        yield sock
    finally:
        # dockerd stops the containerd it started (pidfile under --exec-root) on SIGTERM; if
        # dockerd had to be killed, stop that child by its recorded PID too.
        daemon.stop(grace=30)
        _stop_pidfile(workdir / "exec" / "containerd" / "containerd.pid")


def _stop_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)

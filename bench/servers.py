"""Start and stop the servers under test, each on a free loopback port with its own data dir.

- reference: Debian's `docker-registry serve CONFIG` (CNCF distribution 2.8.2), configured as
  /work/shared/harness/clients/refreg.sh does (filesystem storage, inmemory blob descriptor
  cache, delete enabled, info logging), with htpasswd (bcrypt) auth so "auth on" is compared
  fairly.
- tidegate: `tidegate serve` with TIDEGATE_DATA / TIDEGATE_LISTEN / TIDEGATE_ADMIN_PASSWORD,
  ready when GET /healthz is 200.
- nginx: the same bytes as static files, sendfile on, no auth: the machine's limit.

Each server runs in its own session; stop() signals only the pid we started (then its group,
which holds only processes it spawned).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    base_url: str
    proc: subprocess.Popen[bytes] | None
    log: Path | None
    description: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        return int(self.extra["pid"]) if "pid" in self.extra else None

    def log_tail(self, lines: int = 15) -> str:
        if not self.log or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        # Anything it forked and left behind is in the session we created for it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def _wait_ready(server: Server, ready: Callable[[httpx.Response], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = server.base_url + server.extra.get("ready_path", "/v2/")
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode}; log {server.log}:\n"
                + server.log_tail()
            )
        try:
            if ready(httpx.get(url, timeout=2)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s; log:\n{server.log_tail()}")


REGISTRY_CONFIG = """\
# written by bench/run.py, as refreg.sh writes it (CNCF distribution 2.8.x), plus htpasswd auth
version: 0.1
log:
  level: info
  formatter: text
  fields: {{service: bench-{name}}}
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging: {{enabled: false}}
http:
  addr: 127.0.0.1:{port}
  secret: bench-{name}-local-test-secret
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: basic-realm
    path: {htpasswd}
"""


def start_reference(
    name: str, workdir: Path, user: str, password: str, auth: bool = True
) -> Server:
    """docker-registry with bcrypt htpasswd auth (ready when /v2/ answers 401), or without."""
    base = workdir / name
    base.mkdir(parents=True)
    htpasswd = base / "htpasswd"
    line = subprocess.run(
        ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
    ).stdout.strip()
    htpasswd.write_text(line + "\n")
    port = free_port()
    config = base / "config.yml"
    text = REGISTRY_CONFIG.format(name=name, data=base / "data", port=port, htpasswd=htpasswd)
    if not auth:
        text = text[: text.index("auth:")]
    config.write_text(text)
    log = workdir / "logs" / f"{name}.log"
    proc = _spawn(["docker-registry", "serve", str(config)], log)
    desc = "docker-registry, htpasswd (bcrypt) Basic auth" if auth else "docker-registry, NO auth"
    server = Server(name, f"http://127.0.0.1:{port}", proc, log, desc)
    _wait_ready(server, lambda r: r.status_code == (401 if auth else 200), timeout=30)
    return server


def start_tidegate(
    cmd: str,
    workdir: Path,
    password: str,
    extra_env: dict[str, str],
    timeout: float,
    reuse: bool = False,
) -> Server:
    """`tidegate serve`; ready when /healthz is 200. ``reuse``: on the data dir a previous
    start left (bench/gc.py seeds it in between)."""
    data = workdir / "tidegate" / "data"
    data.mkdir(parents=True, exist_ok=reuse)
    port = free_port()
    env = dict(os.environ)
    env.update(
        TIDEGATE_DATA=str(data),
        TIDEGATE_LISTEN=f"127.0.0.1:{port}",
        TIDEGATE_ADMIN_PASSWORD=password,
    )
    env.update(extra_env)
    log = workdir / "logs" / "tidegate.log"
    argv = [*shlex.split(cmd), "serve"]
    proc = _spawn(argv, log, env)
    server = Server("tidegate", f"http://127.0.0.1:{port}", proc, log, " ".join(argv))
    server.extra["ready_path"] = "/healthz"
    _wait_ready(server, lambda r: r.status_code == 200, timeout=timeout)
    return server


def external(url: str, pid: int | None) -> Server:
    """A server someone else started (--tidegate-url); CPU/RSS only if its pid is given."""
    server = Server("tidegate", url.rstrip("/"), None, None, f"external {url}")
    if pid:
        server.extra["pid"] = str(pid)
    return server


NGINX_CONFIG = """\
# written by bench/run.py: static files, sendfile, no auth - the machine's limit
worker_processes auto;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  types {{ }}
  default_type application/octet-stream;
  client_body_temp_path {dir}/tmp-body;
  proxy_temp_path {dir}/tmp-proxy;
  fastcgi_temp_path {dir}/tmp-fastcgi;
  uwsgi_temp_path {dir}/tmp-uwsgi;
  scgi_temp_path {dir}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location ~ /manifests/ {{ default_type application/vnd.oci.image.manifest.v1+json; }}
  }}
}}
"""


def start_nginx(workdir: Path, root: Path) -> Server:
    base = workdir / "nginx"
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = base / "nginx.conf"
    conf.write_text(NGINX_CONFIG.format(dir=base, port=port, root=root))
    log = workdir / "logs" / "nginx.log"
    argv = ["nginx", "-e", str(log), "-p", str(base), "-c", str(conf), "-g", "daemon off;"]
    proc = _spawn(argv, log)
    server = Server("nginx", f"http://127.0.0.1:{port}", proc, log, "nginx sendfile (no auth)")
    _wait_ready(server, lambda r: r.status_code in (200, 403, 404), timeout=15)
    return server

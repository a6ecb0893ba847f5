"""Real upstream registries for the remote-repository tests, on free loopback ports.

Three kinds, each a context manager yielding an `Upstream`, each stopped by the PID we started
even when the test fails:

- `distribution_upstream(workdir, auth="basic")`: Debian's ``docker-registry`` (CNCF
  distribution 2.8.2), filesystem storage in ``workdir``, bcrypt htpasswd (``htpasswd -B``);
- `distribution_upstream(workdir, auth="token")`: the same registry behind its token auth
  (``auth: token: {realm, service, issuer, rootcertbundle}``), with a small real token server
  in this process (`TokenServer`) that checks Basic credentials and signs RS256 JWTs with a key
  whose self-signed certificate is the registry's ``rootcertbundle`` (the certificate travels in
  the JWT's ``x5c`` header, which distribution verifies against that bundle);
- `tidegate_upstream(workdir)`: a second ``tidegate serve`` (tests/support/server.py).

distribution writes one combined-log-format access line per request to its stdout, which goes to
``Upstream.log``; `count_requests` reads it. Tidegate writes no access log (granian's is off),
so requests to a Tidegate upstream cannot be counted from a log.

`seed` copies a real image (an ``oci:`` layout reference, all platforms, digests kept) into an
upstream with skopeo.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.server import tidegate_server

TOKEN_SERVICE = "tidegate-test-upstream"
TOKEN_ISSUER = "tidegate-test-token-issuer"
TOKEN_TTL = 300  # seconds

DISTRIBUTION_CONFIG = """\
# CNCF distribution 2.8 (Debian docker-registry) as an upstream, written by tests/support
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
{auth}"""

BASIC_AUTH = """\
auth:
  htpasswd:
    realm: tidegate-upstream
    path: {htpasswd}
"""

TOKEN_AUTH = """\
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
"""

# gorilla/handlers combined log line: 127.0.0.1 - - [date] "GET /v2/... HTTP/1.1" 200 1234 ...
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


# ---------------------------------------------------------------------- the access log
@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # without the query string
    query: str
    status: int


def access_log(log: Path, since: int = 0) -> list[LoggedRequest]:
    """Every request distribution logged in `log`, from byte offset `since` (see Upstream.mark)."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    out = []
    for line in text.splitlines():
        m = _ACCESS.search(line)
        if m:
            path, _, query = m["uri"].partition("?")
            out.append(LoggedRequest(m["method"], path, query, int(m["status"])))
    return out


def count_requests(
    log: Path, method: str, path_regex: str, *, status: int | None = None, since: int = 0
) -> int:
    """How many `method` requests for a path matching `path_regex` (whole path, no query) the
    upstream logged after byte offset `since`; only those answered `status` when given."""
    pattern = re.compile(path_regex)
    return sum(
        1
        for r in access_log(log, since)
        if r.method == method
        and pattern.fullmatch(r.path)
        and (status is None or r.status == status)
    )


# ---------------------------------------------------------------------- the token server
_SIGNING_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


@dataclass
class SigningKey:
    """An RSA key and a self-signed certificate for it (the registry's rootcertbundle)."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def generate(cls, common_name: str = TOKEN_ISSUER) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_SIGNING_USAGE, critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def x5c(self) -> list[str]:
        return [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]


def _access(scopes: list[str]) -> list[dict[str, object]]:
    """`repository:NAME:pull,push` scopes as the JWT's access claim (everything asked granted)."""
    out: list[dict[str, object]] = []
    for scope in scopes:
        for item in scope.split(" "):
            kind, sep, rest = item.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if sep and sep2 and kind and name:
                out.append({"type": kind, "name": name, "actions": actions.split(",")})
    return out


@dataclass
class TokenServer:
    """Docker token service for distribution's token auth, in a thread of this process.

    GET (and the OAuth2 POST, ``grant_type=password``) ``/token?service=&scope=``: wrong
    credentials get 401; anonymous callers get a token with no access (as Docker Hub answers for
    a private repository); the right credentials get every scope they ask for.
    """

    username: str
    password: str
    key: SigningKey
    service: str = TOKEN_SERVICE
    issuer: str = TOKEN_ISSUER
    issued: int = 0  # tokens with access handed out
    refused: int = 0  # 401s
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def realm(self) -> str:
        assert self._server is not None, "token server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/token"

    def token(self, subject: str, scopes: list[str]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,  # distribution 2.8 reads a single string
            "exp": now + TOKEN_TTL,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": _access(scopes) if subject else [],
        }
        return jwt.encode(
            claims, self.key.key_pem(), algorithm="RS256", headers={"x5c": self.key.x5c()}
        )

    def _answer(self, authorization: str | None, form: dict[str, list[str]]) -> tuple[int, bytes]:
        user = password = None
        if authorization and authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:]).decode()
            except ValueError:
                raw = ":"
            user, _, password = raw.partition(":")
        elif form.get("grant_type") == ["password"]:
            user, password = form.get("username", [""])[0], form.get("password", [""])[0]
        if user is not None and (user, password) != (self.username, self.password):
            with self._lock:
                self.refused += 1
            return 401, b'{"details": "incorrect username or password"}'
        token = self.token(user or "", form.get("scope", []))
        if user:
            with self._lock:
                self.issued += 1
        body = {
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_TTL,
            "issued_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        return 200, json.dumps(body).encode()

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, form: dict[str, list[str]]) -> None:
                if urlsplit(self.path).path != "/token":
                    status, body = 404, b'{"details": "not found"}'
                else:
                    status, body = server._answer(self.headers.get("Authorization"), form)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply(parse_qs(urlsplit(self.path).query))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(errors="replace"))
                self._reply(form)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the registry's access log is the one the tests read

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="token-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)


# ---------------------------------------------------------------------- the upstream
@dataclass
class Upstream:
    """A registry process on loopback that a Tidegate remote repository proxies."""

    kind: str  # "distribution-basic", "distribution-token", "tidegate"
    host: str  # 127.0.0.1:PORT
    username: str
    password: str
    data_dir: Path
    log: Path  # distribution: its access log (stdout/stderr); tidegate: its server log
    argv: list[str]
    env: dict[str, str] | None = None
    token_server: TokenServer | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def counts_requests(self) -> bool:
        return self.kind.startswith("distribution")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """(Re)start the process on the same port and data; ready when GET /v2/ answers 401."""
        if self.alive():
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} upstream exited with {self.proc.returncode}\n{_tail(self.log)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v2/", timeout=2).status_code == 401:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.kind} upstream not ready after {timeout:.0f}s\n{_tail(self.log)}"
        )

    def stop(self) -> None:
        """SIGTERM the PID we started, then SIGKILL its process group (its own session)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: only what it started
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def mark(self) -> int:
        """The access log's current end: pass it as `since` to count only later requests."""
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def requests(self, since: int = 0) -> list[LoggedRequest]:
        self._needs_log()
        return access_log(self.log, since)

    def count(
        self, method: str, path_regex: str, *, status: int | None = None, since: int = 0
    ) -> int:
        self._needs_log()
        return count_requests(self.log, method, path_regex, status=status, since=since)

    def _needs_log(self) -> None:
        if not self.counts_requests:
            raise RuntimeError(f"a {self.kind} upstream writes no access log to count from")

    def describe_requests(self, since: int = 0) -> str:
        """The logged requests, one a line, for assertion messages."""
        return "\n".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests(since))


@contextlib.contextmanager
def distribution_upstream(workdir: Path, auth: str = "basic") -> Iterator[Upstream]:
    """docker-registry serve on a free loopback port; `auth` is "basic" or "token"."""
    for tool in ("docker-registry", "htpasswd"):
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"{tool} not installed: apt-get install docker-registry apache2-utils"
            )
    if auth not in ("basic", "token"):
        raise ValueError(f"auth must be 'basic' or 'token', not {auth!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    username, password = "upstream", secrets.token_urlsafe(18)
    port = free_port()
    token_server: TokenServer | None = None
    with contextlib.ExitStack() as stack:
        if auth == "basic":
            htpasswd = workdir / "htpasswd"
            line = subprocess.run(
                ["htpasswd", "-Bbn", username, password],
                check=True, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            htpasswd.write_text(line + "\n")  # distribution accepts only bcrypt entries
            auth_block = BASIC_AUTH.format(htpasswd=htpasswd)
        else:
            key = SigningKey.generate()
            bundle = workdir / "token-root.crt"
            bundle.write_bytes(key.cert_pem())
            token_server = TokenServer(username, password, key)
            token_server.start()
            stack.callback(token_server.stop)
            auth_block = TOKEN_AUTH.format(
                realm=token_server.realm, service=TOKEN_SERVICE, issuer=TOKEN_ISSUER, bundle=bundle
            )
        config = workdir / "config.yml"
        config.write_text(
            DISTRIBUTION_CONFIG.format(
                data=data, port=port, secret=secrets.token_hex(16), auth=auth_block
            )
        )
        upstream = Upstream(
            kind=f"distribution-{auth}",
            host=f"127.0.0.1:{port}",
            username=username,
            password=password,
            data_dir=data,
            log=workdir / "registry.log",
            argv=["docker-registry", "serve", str(config)],
            token_server=token_server,
        )
        stack.callback(upstream.stop)
        upstream.start()
        yield upstream


@contextlib.contextmanager
def tidegate_upstream(workdir: Path) -> Iterator[Upstream]:
    """A second `tidegate serve` (default configuration: its `dev` takes pushes)."""
    with tidegate_server(workdir / "data") as server:
        yield Upstream(
            kind="tidegate",
            host=server.host,
            username=server.username,
            password=server.password,
            data_dir=server.data_dir,
            log=server.log_path,
            argv=[],
            proc=server.proc,
        )


# ---------------------------------------------------------------------- seeding
POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'


def seed(upstream: Upstream, source: str | Path, name_tag: str, *, timeout: float = 300) -> None:
    """Copy a real image into the upstream as `name_tag` (e.g. ``library/alpine:3.20``) with
    skopeo: every platform of an index, digests kept (byte-exact manifests).

    `source` is a containers-transports reference (``oci:/layout:ref``) or an OCI layout
    directory holding one image.
    """
    src = f"oci:{source}" if isinstance(source, Path) else source
    workdir = upstream.log.parent / f"seed-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    policy = workdir / "policy.json"
    policy.write_text(POLICY_JSON)
    argv = [
        "skopeo", "--policy", str(policy), "copy", "--all", "--preserve-digests",
        "--dest-tls-verify=false", "--dest-creds", f"{upstream.username}:{upstream.password}",
        src, f"docker://{upstream.host}/{name_tag}",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": str(workdir)},
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode != 0:
        shown = " ".join(argv).replace(upstream.password, "***")
        raise RuntimeError(
            f"seeding {name_tag} failed ({proc.returncode}): {shown}\n{proc.stderr[-3000:]}"
        )

"""Identity and access with real clients (docs/access.md, PRODUCT.md §3 defaults).

- podman and skopeo log in as a developer (a user created through ``/api/v1``, in the group
  ``developers``) and push to ``dev``; the same developer's pushes and deletes in ``prod`` are
  refused and nothing changes there;
- a tester pulls from ``test`` and is refused a push;
- containerd (``ctr --user sa:TOKEN``) pulls with the access token of a read-only service account
  (a permission target granting it only ``read`` on test and prod) and is refused a push;
- docker logs in with a user's password and with an access token as the password, pulls and
  pushes, and a revoked access token stops docker's next pull.

Content in ``test`` and ``prod``: the default install has ``allow_push: false`` there (content
arrives by promotion, a later issue), so this module starts its own Tidegate with a config that
reproduces the default repositories of PRODUCT.md §3 exactly, except ``allow_push: true`` on test
and prod, and admin seeds those repositories with skopeo. Groups and permission targets are the
defaults created on first start.

The reference registry (TIDEGATE_E2E_REFERENCE=1) has no users, groups or management API: there
these tests run against it and are expected to fail (xfail, strict), like the referrers tests.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._clients import ContainersEnv, Ctr, Docker, Podman, Skopeo, empty_authfile
from ._cmd import AUTH_ERROR, CommandFailed, describe
from ._images import Corpus
from ._servers import (
    Registry,
    free_port,
    log_tail,
    reference_mode,
    spawn,
    tidegate_executable,
    wait_until,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xfail(
        reference_mode(),
        reason="distribution 2.8 has no users, groups or /api/v1 (POST /api/v1/users -> 404)",
        strict=True,
    ),
]

# The default repositories of PRODUCT.md §3, except allow_push: true on test and prod.
CONFIG = """\
repositories:
  - {key: dev, kind: local, stage: dev}
  - {key: test, kind: local, stage: test, allow_push: true, gate: {from: [dev]}}
  - key: prod
    kind: local
    stage: prod
    protected: true
    allow_push: true
    immutable_tags: true
    gate: {from: [test], require: ["qa.automated=passed", "qa.uat=passed"]}
  - {key: hub, kind: remote, upstream: "https://registry-1.docker.io"}
  - {key: docker, kind: virtual, members: [dev, test, prod, hub], default_deploy: dev}
  - {key: release, kind: virtual, members: [prod, hub]}
"""


@contextlib.contextmanager
def _tidegate_with_config(workdir: Path) -> Iterator[Registry]:
    port = free_port()
    password = secrets.token_urlsafe(18)
    data = workdir / "data"
    data.mkdir(parents=True)
    config = workdir / "tidegate.yaml"
    config.write_text(CONFIG)
    env = {
        "TIDEGATE_DATA": str(data),
        "TIDEGATE_LISTEN": f"127.0.0.1:{port}",
        "TIDEGATE_ADMIN_PASSWORD": password,
    }
    exe = tidegate_executable()
    daemon = spawn("tidegate", [exe, "serve", "--config", config], workdir / "tidegate.log", env)
    try:
        healthz = f"http://127.0.0.1:{port}/healthz"
        wait_until(
            daemon,
            lambda: httpx.get(healthz, timeout=2).status_code == 200,
            30,
            f"GET {healthz} -> 200",
        )
        yield Registry(
            f"127.0.0.1:{port}", "admin", password, data, daemon.proc, daemon.log, "tidegate"
        )
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def reg(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """Tidegate with the stage repositories open to admin's pushes (see the module docstring);
    in reference mode, the session's reference registry."""
    if reference_mode():
        reference: Registry = request.getfixturevalue("registry")
        yield reference
        return
    with _tidegate_with_config(tmp_path_factory.mktemp("access")) as running:
        yield running


@dataclass
class Account:
    username: str
    password: str  # a password, or an access token


class Site:
    """The registry under test as an admin drives it: the management API and an admin skopeo."""

    def __init__(self, reg: Registry, cenv: ContainersEnv, work: Path) -> None:
        self.reg = reg
        self.cenv = cenv
        self.api = httpx.Client(base_url=reg.url, auth=(reg.username, reg.password), timeout=60)
        self.work = work
        self.skopeo = self.login_skopeo(Account(reg.username, reg.password), "admin")

    def close(self) -> None:
        self.api.close()

    def call(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        r = self.api.request(method, path, **kw)
        assert r.status_code == expect, (
            f"{method} {path}: {r.status_code} {r.text}\n--- {self.reg.log} ---\n"
            + log_tail(self.reg.log, 20)
        )
        return r.json() if r.content else None

    def user(self, group: str) -> Account:
        name = f"e2e-{group[:4]}-{uuid.uuid4().hex[:8]}"
        password = secrets.token_urlsafe(16)
        self.call(
            "POST",
            "/api/v1/users",
            201,
            json={"username": name, "password": password, "groups": [group]},
        )
        return Account(name, password)

    def service_account(self, groups: list[str]) -> tuple[Account, str]:
        """A service account and an access token for it; the token's id too."""
        name = f"e2e-sa-{uuid.uuid4().hex[:8]}"
        self.call("POST", "/api/v1/service-accounts", 201, json={"name": name, "groups": groups})
        token = self.call("POST", "/api/v1/tokens", 201, json={"name": "e2e", "principal": name})
        assert token["token"].startswith(f"tdg_{token['id']}_"), token
        return Account(name, token["token"]), token["id"]

    def login_skopeo(self, who: Account, label: str) -> Skopeo:
        authfile = empty_authfile(self.work / f"auth-{label}-{uuid.uuid4().hex[:6]}.json")
        skopeo = Skopeo(self.cenv, authfile)
        skopeo.login(self.reg.host, who.username, who.password, authfile)
        return skopeo

    def seed(self, corpus: Corpus, ref: str, image: str = "app") -> None:
        """Admin copies a corpus image to ``HOST/<ref>`` (digests kept)."""
        self.skopeo.copy(corpus.oci(image), f"docker://{self.reg.host}/{ref}", "--preserve-digests")

    def state(self, name: str) -> tuple[list[str], dict[str, str]]:
        """What admin sees of ``HOST/<name>``: its tags and the digest of each."""
        tags = sorted(self.skopeo.list_tags(f"docker://{self.reg.host}/{name}"))
        digests = {t: self.skopeo.raw_digest(f"docker://{self.reg.host}/{name}:{t}") for t in tags}
        return tags, digests


@pytest.fixture(scope="module")
def site(
    reg: Registry, cenv: ContainersEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    s = Site(reg, cenv, tmp_path_factory.mktemp("access-auth"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def space() -> str:
    """A fresh image namespace, to be used under any repository key."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


# what clients print when a token lacks the scope (ctr: "insufficient_scope: authorization
# failed"), besides the credential errors of AUTH_ERROR
SCOPE_ERROR = re.compile(r"insufficient_scope|\bforbidden\b|\b403\b", re.IGNORECASE)


# containerd's pusher streams a manifest through an io.Pipe; when the refusal (401, after the
# server has read the body) reaches its request goroutine before its writer has finished, it
# closes the pipe and ctr reports this instead of the status. A client-side race (seen once in
# five full runs under load); the registry refused, and the state checks below prove it.
CTR_PIPE_RACE = "io: read/write on closed pipe"


def _refused(proc_or_exc: Any, what: str = "") -> str:
    """The client failed, and said it was for want of credentials or permission."""
    text = str(proc_or_exc) if isinstance(proc_or_exc, BaseException) else describe(proc_or_exc)
    known = AUTH_ERROR.search(text) or SCOPE_ERROR.search(text)
    assert known, f"{what}: refused, but not for want of permission:\n{text}"
    return text


def _podman_login(podman: Podman, reg: Registry, who: Account) -> Path:
    authfile = empty_authfile(podman.workdir / "auth.json")
    podman(
        "login", "--tls-verify=false", "--authfile", authfile,
        "--username", who.username, "--password-stdin", reg.host,
        input=who.password + "\n",
    )  # fmt: skip
    return authfile


# ---------------------------------------------------------------------- developers
def test_developer_logs_in_with_skopeo_and_podman_and_pushes_to_dev(
    site: Site, reg: Registry, podman: Podman, corpus: Corpus, space: str
) -> None:
    dev = site.user("developers")
    skopeo = site.login_skopeo(dev, "dev")
    base = f"{reg.host}/dev/{space}/base:1"
    skopeo.copy(corpus.oci("base"), f"docker://{base}", "--preserve-digests")
    assert site.skopeo.raw_digest(f"docker://{base}") == corpus.base.digest
    assert skopeo.inspect_raw(f"docker://{base}") == corpus.base.raw

    auth = _podman_login(podman, reg, dev)
    podman("pull", "--tls-verify=false", "--authfile", auth, base)
    pushed = f"{reg.host}/dev/{space}/podman-base:2"
    podman("tag", base, pushed)
    digestfile = podman.workdir / "digest"
    podman("push", "--tls-verify=false", "--authfile", auth, "--digestfile", digestfile, pushed)
    assert site.skopeo.raw_digest(f"docker://{pushed}") == digestfile.read_text().strip()
    # the developer may also delete in dev
    skopeo.delete(f"docker://{pushed}")
    assert site.skopeo.list_tags(f"docker://{reg.host}/dev/{space}/podman-base") == []


def test_developer_is_refused_push_and_delete_in_prod_and_nothing_changes(
    site: Site, reg: Registry, podman: Podman, corpus: Corpus, space: str
) -> None:
    name = f"prod/{space}/app"
    site.seed(corpus, f"{name}:1")
    before = site.state(name)
    assert before == (["1"], {"1": corpus.app.digest})

    dev = site.user("developers")
    skopeo = site.login_skopeo(dev, "dev")
    attempts: list[tuple[str, Callable[[], object]]] = [
        (
            "push to a new tag",
            lambda: skopeo.copy(corpus.oci("base"), f"docker://{reg.host}/{name}:2"),
        ),
        ("move a tag", lambda: skopeo.copy(corpus.oci("base"), f"docker://{reg.host}/{name}:1")),
        ("delete", lambda: skopeo.delete(f"docker://{reg.host}/{name}:1")),
        ("read", lambda: skopeo.inspect_raw(f"docker://{reg.host}/{name}:1")),
    ]
    for what, attempt in attempts:
        with pytest.raises(CommandFailed) as refused:
            attempt()
        _refused(refused.value, what)

    auth = _podman_login(podman, reg, dev)
    podman("pull", corpus.oci("base"))
    image_id = corpus.base.config_digest.removeprefix("sha256:")
    for tag in ("podman", "1"):
        target = f"{reg.host}/{name}:{tag}"
        podman("tag", image_id, target)
        proc = podman("push", "--tls-verify=false", "--authfile", auth, target, check=False)
        assert proc.returncode != 0, describe(proc)
        _refused(proc, f"podman push {target}")

    assert site.state(name) == before


# ---------------------------------------------------------------------- testers
def test_tester_pulls_from_test_and_is_refused_a_push(
    site: Site, reg: Registry, podman: Podman, corpus: Corpus, space: str
) -> None:
    name = f"test/{space}/app"
    site.seed(corpus, f"{name}:1")
    before = site.state(name)

    tester = site.user("testers")
    auth = _podman_login(podman, reg, tester)
    src = f"{reg.host}/{name}:1"
    podman("pull", "--tls-verify=false", "--authfile", auth, src)
    digest = podman("image", "inspect", "--format", "{{.Digest}}", src).stdout.strip()
    assert digest == corpus.app.digest

    for ref in (f"{reg.host}/{name}:2", f"{reg.host}/{name}:1"):
        podman("tag", src, ref)
        proc = podman("push", "--tls-verify=false", "--authfile", auth, ref, check=False)
        assert proc.returncode != 0, describe(proc)
        _refused(proc, f"podman push {ref}")
    skopeo = site.login_skopeo(tester, "tester")
    with pytest.raises(CommandFailed) as refused:
        skopeo.delete(f"docker://{src}")
    _refused(refused.value)

    assert site.state(name) == before


# ---------------------------------------------------------------------- containerd
def test_containerd_pulls_with_a_read_only_service_account_token(
    site: Site, reg: Registry, ctr: Ctr, corpus: Corpus, space: str
) -> None:
    sa, _ = site.service_account([])
    site.call(
        "POST",
        "/api/v1/permissions",
        201,
        json={
            "name": f"e2e-pull-{space}",
            "repositories": ["test", "prod"],
            "include": [f"{space}/**"],
            "exclude": [],
            "users": {sa.username: ["read"]},
            "groups": {},
            "anonymous": [],
        },
    )
    name = f"prod/{space}/app"
    site.seed(corpus, f"{name}:1")
    before = site.state(name)

    ref = f"{reg.host}/{name}:1"
    creds = ["--plain-http", "--user", f"{sa.username}:{sa.password}"]
    ctr("images", "pull", *creds, "--snapshotter", "native", ref)
    assert ctr.image_digest(ref) == corpus.app.digest

    for target in (f"{reg.host}/{name}:ctr", f"{reg.host}/dev/{space}/app:ctr"):
        ctr("images", "tag", "--force", ref, target)
        proc = ctr("images", "push", *creds, target, check=False)
        assert proc.returncode != 0, describe(proc)
        if CTR_PIPE_RACE not in proc.stderr:
            _refused(proc, f"ctr push {target}")
    assert site.state(name) == before
    dev_tags = httpx.get(
        f"{reg.url}/v2/dev/{space}/app/tags/list", auth=(reg.username, reg.password), timeout=30
    )
    assert dev_tags.status_code == 404, dev_tags.text  # nothing arrived in dev either


# ---------------------------------------------------------------------- docker
def _docker_auth_entry(docker: Docker, host: str) -> dict[str, Any]:
    config = json.loads((docker.config_dir / "config.json").read_text())
    entry: dict[str, Any] = (config.get("auths") or {}).get(host, {})
    return entry


def _docker_login(docker: Docker, reg: Registry, who: Account) -> None:
    docker(
        "login", "--username", who.username, "--password-stdin", reg.host,
        input=who.password + "\n",
    )  # fmt: skip


def test_docker_login_with_a_password_and_with_an_access_token(
    site: Site, reg: Registry, docker: Docker, corpus: Corpus, space: str
) -> None:
    src = f"{reg.host}/dev/{space}/app:1"
    site.seed(corpus, f"dev/{space}/app:1")

    # a developer, with the password
    dev = site.user("developers")
    _docker_login(docker, reg, dev)
    entry = _docker_auth_entry(docker, reg.host)
    assert entry, "docker login stored nothing"
    docker("pull", src)
    pushed = f"{reg.host}/dev/{space}/docker-app:1"
    docker("tag", src, pushed)
    docker("push", pushed)
    assert site.skopeo.list_tags(f"docker://{reg.host}/dev/{space}/docker-app") == ["1"]
    docker("logout", reg.host)

    # a CI service account, with an access token as the password
    bot, token_id = site.service_account(["ci"])
    _docker_login(docker, reg, bot)
    docker("rmi", "--force", src, pushed)
    docker("pull", pushed)
    again = f"{reg.host}/dev/{space}/docker-app:2"
    docker("tag", pushed, again)
    docker("push", again)
    assert site.skopeo.list_tags(f"docker://{reg.host}/dev/{space}/docker-app") == ["1", "2"]

    # revoked: docker's next pull is refused, whatever docker kept from its login
    site.call("DELETE", f"/api/v1/tokens/{token_id}", 204)
    docker("rmi", "--force", pushed, again)
    proc = docker("pull", again, check=False)
    assert proc.returncode != 0, describe(proc)
    _refused(proc)
    docker("logout", reg.host)

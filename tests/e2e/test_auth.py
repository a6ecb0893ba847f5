"""Credentials: wrong passwords are refused, anonymous access is refused, logout takes effect."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ._clients import ContainersEnv, Podman, Skopeo, empty_authfile
from ._cmd import AUTH_ERROR, CommandFailed
from ._images import Corpus
from ._servers import Registry

pytestmark = pytest.mark.e2e


def _auths(authfile: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(authfile.read_text()).get("auths") or {}
    return data


def test_api_base_demands_credentials(registry: Registry) -> None:
    r = httpx.get(f"{registry.url}/v2/", timeout=10)
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").split(" ")[0].lower() in ("basic", "bearer")
    # plain Basic credentials are accepted on /v2/ (simple clients, `docker login` probes)
    r = httpx.get(f"{registry.url}/v2/", auth=(registry.username, registry.password), timeout=10)
    assert r.status_code == 200, (r.status_code, r.headers, r.text)


def test_skopeo_login_with_wrong_password_fails(
    registry: Registry, cenv: ContainersEnv, tmp_path: Path
) -> None:
    authfile = empty_authfile(tmp_path / "auth.json")
    proc = Skopeo(cenv, authfile).login(
        registry.host, registry.username, "wrong-password", authfile, check=False
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert AUTH_ERROR.search(proc.stderr + proc.stdout), proc.stderr
    assert registry.host not in _auths(authfile)


def test_podman_login_with_wrong_password_fails(registry: Registry, podman: Podman) -> None:
    authfile = empty_authfile(podman.workdir / "auth.json")
    proc = podman(
        "login", "--tls-verify=false", "--authfile", authfile,
        "--username", registry.username, "--password-stdin", registry.host,
        input="wrong-password\n", check=False,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert AUTH_ERROR.search(proc.stderr + proc.stdout), proc.stderr
    assert registry.host not in _auths(authfile)


def test_anonymous_pull_is_refused(
    registry: Registry, skopeo: Skopeo, cenv: ContainersEnv, corpus: Corpus, ns: str, tmp_path: Path
) -> None:
    ref = f"docker://{registry.host}/{ns}/base:1"
    skopeo.copy(corpus.oci("base"), ref, "--preserve-digests")
    anonymous = Skopeo(cenv, empty_authfile(tmp_path / "anon.json"))
    with pytest.raises(CommandFailed) as refused:
        anonymous.inspect_raw(ref)
    assert AUTH_ERROR.search(str(refused.value)), str(refused.value)


def test_podman_logout_then_pull_is_refused(
    registry: Registry, podman: Podman, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    ref = f"{registry.host}/{ns}/base:1"
    skopeo.copy(corpus.oci("base"), f"docker://{ref}", "--preserve-digests")
    authfile = empty_authfile(podman.workdir / "auth.json")
    podman(
        "login", "--tls-verify=false", "--authfile", authfile,
        "--username", registry.username, "--password-stdin", registry.host,
        input=registry.password + "\n",
    )  # fmt: skip
    assert registry.host in _auths(authfile)
    podman("pull", "--tls-verify=false", "--authfile", authfile, ref)

    podman("logout", "--authfile", authfile, registry.host)
    assert registry.host not in _auths(authfile)
    podman("rmi", "--all", "--force")
    proc = podman("pull", "--tls-verify=false", "--authfile", authfile, ref, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert AUTH_ERROR.search(proc.stderr), proc.stderr

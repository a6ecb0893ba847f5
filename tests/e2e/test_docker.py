"""docker (a private dockerd): login, pull OCI and schema2 images, push, logout."""

from __future__ import annotations

import json
import re

import pytest

from ._clients import Docker, Skopeo
from ._cmd import AUTH_ERROR, CommandFailed
from ._images import Corpus
from ._oci import DOCKER_MANIFEST_MT
from ._servers import Registry

pytestmark = pytest.mark.e2e


def _login(docker: Docker, registry: Registry, password: str | None = None) -> None:
    docker(
        "login", "--username", registry.username, "--password-stdin", registry.host,
        input=(password or registry.password) + "\n",
    )  # fmt: skip


def _repo_digests(docker: Docker, ref: str) -> list[str]:
    out = docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
    digests: list[str] = json.loads(out)
    return digests


def test_login_pull_push_pull_logout(
    registry: Registry, docker: Docker, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    app = f"{registry.host}/{ns}/app:1.0"
    legacy = f"{registry.host}/{ns}/legacy:1"
    skopeo.copy(corpus.oci("app"), f"docker://{app}", "--preserve-digests")
    skopeo.copy(f"dir:{corpus.v2s2_dir}", f"docker://{legacy}", "--preserve-digests")
    _login(docker, registry)

    # pull an OCI image and a Docker schema2 image
    docker("pull", app)
    assert f"{registry.host}/{ns}/app@{corpus.app.digest}" in _repo_digests(docker, app)
    docker("pull", legacy)
    assert f"{registry.host}/{ns}/legacy@{corpus.v2s2.digest}" in _repo_digests(docker, legacy)

    # push under a new name: docker pushes schema2 and reports the digest
    pushed = f"{registry.host}/{ns}/docker-app:2"
    docker("tag", app, pushed)
    out = docker("push", pushed).stdout
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    assert match, out
    raw = skopeo.inspect_raw(f"docker://{pushed}")
    assert skopeo.raw_digest(f"docker://{pushed}") == match.group(1)
    assert json.loads(raw)["mediaType"] == DOCKER_MANIFEST_MT

    docker("rmi", pushed, app, legacy)
    docker("pull", pushed)
    assert f"{registry.host}/{ns}/docker-app@{match.group(1)}" in _repo_digests(docker, pushed)

    docker("logout", registry.host)
    with pytest.raises(CommandFailed) as refused:
        docker("pull", app)
    assert AUTH_ERROR.search(str(refused.value)), str(refused.value)


def test_login_with_wrong_password_fails(docker: Docker, registry: Registry) -> None:
    with pytest.raises(CommandFailed) as refused:
        _login(docker, registry, password="wrong-password")
    assert AUTH_ERROR.search(str(refused.value)), str(refused.value)

"""podman: login, pull (tag, digest, platform of an index), tag + push, pull back."""

from __future__ import annotations

import pytest

from ._clients import Podman, Skopeo, empty_authfile
from ._images import Corpus
from ._servers import Registry

pytestmark = pytest.mark.e2e


def _login(podman: Podman, registry: Registry) -> str:
    authfile = empty_authfile(podman.workdir / "auth.json")
    podman(
        "login", "--tls-verify=false", "--authfile", authfile,
        "--username", registry.username, "--password-stdin", registry.host,
        input=registry.password + "\n",
    )  # fmt: skip
    return str(authfile)


def test_login_pull_tag_push_pull_back(
    registry: Registry, podman: Podman, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    skopeo.copy(corpus.oci("app"), f"docker://{registry.host}/{ns}/app:1.0", "--preserve-digests")
    auth = _login(podman, registry)
    src = f"{registry.host}/{ns}/app:1.0"

    podman("pull", "--tls-verify=false", "--authfile", auth, src)
    assert podman("image", "inspect", "--format", "{{.Digest}}", src).stdout.strip() == (
        corpus.app.digest
    )
    # the image ID is the config digest: same image as built
    image_id = podman("image", "inspect", "--format", "{{.Id}}", src).stdout.strip()
    assert "sha256:" + image_id == corpus.app.config_digest

    pushed = f"{registry.host}/{ns}/podman-app:2.0"
    podman("tag", src, pushed)
    digestfile = podman.workdir / "digest"
    podman("push", "--tls-verify=false", "--authfile", auth, "--digestfile", digestfile, pushed)
    digest = digestfile.read_text().strip()
    assert skopeo.raw_digest(f"docker://{pushed}") == digest
    assert (
        skopeo.inspect(f"docker://{pushed}")["Labels"]
        == skopeo.inspect(f"docker://{src}")["Labels"]
    )

    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", "--authfile", auth, pushed)
    assert podman("image", "inspect", "--format", "{{.Digest}}", pushed).stdout.strip() == digest


def test_pull_by_digest(
    registry: Registry, podman: Podman, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    skopeo.copy(corpus.oci("base"), f"docker://{registry.host}/{ns}/base:1", "--preserve-digests")
    auth = _login(podman, registry)
    ref = f"{registry.host}/{ns}/base@{corpus.base.digest}"
    podman("pull", "--tls-verify=false", "--authfile", auth, ref)
    assert podman("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip() == (
        corpus.base.digest
    )


def test_pull_platform_from_index(
    registry: Registry, podman: Podman, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    ref = f"{registry.host}/{ns}/multi:1"
    skopeo.copy(corpus.oci("multi"), f"docker://{ref}", "--all", "--preserve-digests")
    auth = _login(podman, registry)
    for arch, image in (("amd64", corpus.amd64), ("arm64", corpus.arm64)):
        podman("pull", "--tls-verify=false", "--authfile", auth, "--arch", arch, ref)
        fmt = "{{.Architecture}} {{.Id}}"
        got_arch, got_id = podman("image", "inspect", "--format", fmt, ref).stdout.split()
        assert (got_arch, "sha256:" + got_id) == (arch, image.config_digest)

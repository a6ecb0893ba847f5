"""containerd (ctr): pull and unpack, push, multi-arch, Docker schema2, wrong password."""

from __future__ import annotations

import pytest

from ._clients import Ctr, Skopeo
from ._cmd import AUTH_ERROR, CommandFailed
from ._images import Corpus
from ._servers import Registry

pytestmark = pytest.mark.e2e


def _creds(registry: Registry) -> list[str]:
    return ["--plain-http", "--user", f"{registry.username}:{registry.password}"]


def test_pull_unpack_and_push(
    registry: Registry, ctr: Ctr, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    src = f"{registry.host}/{ns}/app:1.0"
    skopeo.copy(corpus.oci("app"), f"docker://{src}", "--preserve-digests")

    ctr("images", "pull", *_creds(registry), "--snapshotter", "native", src)
    assert ctr.image_digest(src) == corpus.app.digest
    # unpacked: every layer became a snapshot
    ctr("images", "check", f"name=={src}")
    mounts = ctr("snapshots", "--snapshotter", "native", "ls").stdout.splitlines()[1:]
    assert len(mounts) >= len(corpus.app.layers)

    pushed = f"{registry.host}/{ns}/ctr-app:pushed"
    ctr("images", "tag", src, pushed)
    ctr("images", "push", *_creds(registry), pushed)
    assert skopeo.inspect_raw(f"docker://{pushed}") == corpus.app.raw


def test_multi_arch_pull_all_platforms_and_push(
    registry: Registry, ctr: Ctr, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    src = f"{registry.host}/{ns}/multi:1"
    skopeo.copy(corpus.oci("multi"), f"docker://{src}", "--all", "--preserve-digests")

    ctr("images", "pull", *_creds(registry), "--platform", "linux/arm64", src)
    ctr("images", "pull", *_creds(registry), "--all-platforms", src)
    assert ctr.image_digest(src) == corpus.multi.digest

    pushed = f"{registry.host}/{ns}/ctr-multi:1"
    ctr("images", "tag", src, pushed)
    ctr("images", "push", *_creds(registry), pushed)
    assert skopeo.inspect_raw(f"docker://{pushed}") == corpus.multi.raw
    for child in (corpus.amd64, corpus.arm64):
        assert skopeo.inspect_raw(f"docker://{registry.host}/{ns}/ctr-multi@{child.digest}") == (
            child.raw
        )


def test_pull_docker_schema2(
    registry: Registry, ctr: Ctr, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    src = f"{registry.host}/{ns}/legacy:1"
    skopeo.copy(f"dir:{corpus.v2s2_dir}", f"docker://{src}", "--preserve-digests")
    ctr("images", "pull", *_creds(registry), "--snapshotter", "native", src)
    assert ctr.image_digest(src) == corpus.v2s2.digest


def test_wrong_password_is_refused(
    registry: Registry, ctr: Ctr, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    src = f"{registry.host}/{ns}/base:1"
    skopeo.copy(corpus.oci("base"), f"docker://{src}", "--preserve-digests")
    with pytest.raises(CommandFailed) as refused:
        ctr("images", "pull", "--plain-http", "--user", f"{registry.username}:wrong-password", src)
    assert AUTH_ERROR.search(str(refused.value)), str(refused.value)
    assert ctr.image_digest(src) is None

"""buildah: pull a base from the registry, build on it, push, and read the new layer back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._clients import Buildah, ContainersEnv, Skopeo
from ._images import Corpus
from ._servers import Registry

pytestmark = pytest.mark.e2e


def test_build_on_pulled_base_push_and_pull_back(
    registry: Registry,
    buildah: Buildah,
    skopeo: Skopeo,
    cenv: ContainersEnv,
    authfile: Path,
    corpus: Corpus,
    ns: str,
    tmp_path: Path,
) -> None:
    base = f"{registry.host}/{ns}/base:1"
    skopeo.copy(corpus.oci("base"), f"docker://{base}", "--preserve-digests")
    buildah("pull", "--tls-verify=false", "--authfile", authfile, base)

    container = buildah.out("from", "--pull-never", base)
    note = tmp_path / "release-note.txt"
    note.write_text(f"built by the tidegate e2e suite in {ns}\n")
    buildah("copy", container, note, "/release-note.txt")
    buildah("config", "--label", "tidegate.e2e=buildah", container)
    image = f"{registry.host}/{ns}/built:1"
    buildah("commit", "--quiet", container, image)
    digestfile = tmp_path / "digest"
    buildah("push", "--tls-verify=false", "--authfile", authfile, "--digestfile", digestfile, image)

    raw = skopeo.inspect_raw(f"docker://{image}")
    manifest = json.loads(raw)
    assert skopeo.raw_digest(f"docker://{image}") == digestfile.read_text().strip()
    assert len(manifest["layers"]) == 2
    assert manifest["layers"][0]["digest"] == corpus.base.layers[0], "base layer not reused"

    # a fresh buildah storage pulls it back; the new file is there
    fresh = Buildah(cenv, tmp_path / "fresh")
    fresh("pull", "--tls-verify=false", "--authfile", authfile, image)
    container = fresh.out("from", "--pull-never", image)
    mountpoint = Path(fresh.out("mount", container))
    try:
        assert (mountpoint / "release-note.txt").read_text() == note.read_text()
        assert (mountpoint / "usr/bin/bash").read_bytes() == Path("/usr/bin/bash").read_bytes()
    finally:
        fresh("umount", container)
        fresh("rm", container)

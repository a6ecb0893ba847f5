"""A multi-arch OCI image index: pushed byte for byte, every platform manifest retrievable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._clients import Skopeo
from ._images import Corpus
from ._oci import INDEX_MT, resolve, verify_layout
from ._regclient import RegistryHTTP
from ._servers import Registry

pytestmark = pytest.mark.e2e


def test_index_round_trip(
    registry: Registry, skopeo: Skopeo, corpus: Corpus, ns: str, tmp_path: Path
) -> None:
    ref = f"docker://{registry.host}/{ns}/multi:1"
    skopeo.copy(corpus.oci("multi"), ref, "--all", "--preserve-digests")

    assert skopeo.inspect_raw(ref) == corpus.multi.raw
    for child in (corpus.amd64, corpus.arm64):
        by_digest = f"docker://{registry.host}/{ns}/multi@{child.digest}"
        assert skopeo.inspect_raw(by_digest) == child.raw

    # clients pick their platform from the index
    for arch in ("amd64", "arm64"):
        info = skopeo.inspect(ref, "--override-os", "linux", "--override-arch", arch)
        assert info["Architecture"] == arch, info
        assert info["Layers"] == (corpus.amd64 if arch == "amd64" else corpus.arm64).layers

    # the whole index pulls back, every blob verified
    out = tmp_path / "pulled"
    skopeo.copy(ref, f"oci:{out}:1", "--all", "--preserve-digests")
    assert resolve(out, "1")["digest"] == corpus.multi.digest
    assert verify_layout(out) == []


def test_index_served_with_its_media_type(
    skopeo: Skopeo, api: RegistryHTTP, corpus: Corpus, registry: Registry, ns: str
) -> None:
    name = f"{ns}/multi"
    skopeo.copy(
        corpus.oci("multi"), f"docker://{registry.host}/{name}:1", "--all", "--preserve-digests"
    )
    r = api.head_manifest(name, "1")
    assert r.status_code == 200, api.transcript()
    assert r.headers["Content-Type"].split(";")[0] == INDEX_MT
    assert r.headers["Docker-Content-Digest"] == corpus.multi.digest
    assert int(r.headers["Content-Length"]) == corpus.multi.size

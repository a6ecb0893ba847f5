"""A Docker schema2 image keeps its media type and digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._clients import Skopeo
from ._images import Corpus
from ._oci import DOCKER_MANIFEST_MT, MANIFEST_ACCEPT
from ._regclient import RegistryHTTP
from ._servers import Registry

pytestmark = pytest.mark.e2e


def test_schema2_round_trip(
    registry: Registry, skopeo: Skopeo, api: RegistryHTTP, corpus: Corpus, ns: str, tmp_path: Path
) -> None:
    name = f"{ns}/legacy"
    ref = f"docker://{registry.host}/{name}:1"
    skopeo.copy(f"dir:{corpus.v2s2_dir}", ref, "--preserve-digests")

    raw = skopeo.inspect_raw(ref)
    assert raw == corpus.v2s2.raw
    r = api.get_manifest(name, "1", accept=MANIFEST_ACCEPT)
    assert r.status_code == 200, api.transcript()
    assert r.headers["Content-Type"].split(";")[0] == DOCKER_MANIFEST_MT
    assert r.headers["Docker-Content-Digest"] == corpus.v2s2.digest
    assert r.content == corpus.v2s2.raw

    # pulled back into a dir: layout, the manifest file is the same bytes
    out = tmp_path / "pulled"
    skopeo.copy(ref, f"dir:{out}", "--preserve-digests")
    assert (out / "manifest.json").read_bytes() == corpus.v2s2.raw
    for digest in corpus.v2s2.layers:
        hexd = digest.removeprefix("sha256:")
        assert (out / hexd).read_bytes() == (corpus.v2s2_dir / hexd).read_bytes()

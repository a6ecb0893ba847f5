"""skopeo: push an OCI layout, pull it back byte for byte, list tags, delete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._clients import Skopeo
from ._cmd import CommandFailed
from ._images import Corpus
from ._oci import blob_path, resolve, sha256_file, verify_layout
from ._servers import Registry

pytestmark = pytest.mark.e2e

NOT_FOUND = re.compile(r"manifest unknown|not found|404", re.IGNORECASE)


def test_push_keeps_manifest_and_layer_digests(
    registry: Registry, skopeo: Skopeo, corpus: Corpus, ns: str
) -> None:
    ref = f"docker://{registry.host}/{ns}/app:1.0"
    skopeo.copy(corpus.oci("app"), ref, "--preserve-digests")

    raw = skopeo.inspect_raw(ref)
    assert raw == corpus.app.raw, "registry serves other manifest bytes than were pushed"
    info = skopeo.inspect(ref)
    assert info["Digest"] == corpus.app.digest
    assert info["Layers"] == corpus.app.layers
    assert info["Architecture"] == "amd64"
    assert info["Labels"]["org.opencontainers.image.title"] == "tidegate-e2e-app"


def test_pull_back_is_byte_exact(
    registry: Registry, skopeo: Skopeo, corpus: Corpus, ns: str, tmp_path: Path
) -> None:
    ref = f"docker://{registry.host}/{ns}/app:1.0"
    skopeo.copy(corpus.oci("app"), ref, "--preserve-digests")

    pulled = tmp_path / "pulled"
    skopeo.copy(ref, f"oci:{pulled}:1.0", "--preserve-digests")

    assert resolve(pulled, "1.0")["digest"] == corpus.app.digest
    assert verify_layout(pulled) == []
    for digest in [corpus.app.config_digest, *corpus.app.layers]:
        assert sha256_file(blob_path(pulled, digest)) == digest
        assert (
            blob_path(pulled, digest).read_bytes() == blob_path(corpus.layout, digest).read_bytes()
        )


def test_pull_by_digest(registry: Registry, skopeo: Skopeo, corpus: Corpus, ns: str) -> None:
    skopeo.copy(corpus.oci("app"), f"docker://{registry.host}/{ns}/app:1.0", "--preserve-digests")
    by_digest = f"docker://{registry.host}/{ns}/app@{corpus.app.digest}"
    assert skopeo.inspect_raw(by_digest) == corpus.app.raw


def test_list_tags(registry: Registry, skopeo: Skopeo, corpus: Corpus, ns: str) -> None:
    repo = f"docker://{registry.host}/{ns}/app"
    for tag in ("1.0", "1.1", "latest"):
        skopeo.copy(corpus.oci("app"), f"{repo}:{tag}", "--preserve-digests")
    skopeo.copy(corpus.oci("base"), f"{repo}:base", "--preserve-digests")

    assert sorted(skopeo.list_tags(repo)) == ["1.0", "1.1", "base", "latest"]


def test_delete_removes_image_but_not_its_neighbour(
    registry: Registry, skopeo: Skopeo, corpus: Corpus, ns: str, tmp_path: Path
) -> None:
    base = f"docker://{registry.host}/{ns}/base:1"
    app = f"docker://{registry.host}/{ns}/app:1"
    skopeo.copy(corpus.oci("base"), base, "--preserve-digests")
    skopeo.copy(corpus.oci("app"), app, "--preserve-digests")

    skopeo.delete(base)

    with pytest.raises(CommandFailed) as gone:
        skopeo.inspect_raw(base)
    assert NOT_FOUND.search(str(gone.value)), str(gone.value)
    try:
        assert "1" not in skopeo.list_tags(f"docker://{registry.host}/{ns}/base")
    except CommandFailed as exc:  # an image with no manifest left may be unknown altogether
        assert NOT_FOUND.search(str(exc)), str(exc)
    # app shares base's layer: it must still pull completely
    skopeo.copy(app, f"oci:{tmp_path / 'app'}:1", "--preserve-digests")
    assert verify_layout(tmp_path / "app") == []
    assert resolve(tmp_path / "app", "1")["digest"] == corpus.app.digest

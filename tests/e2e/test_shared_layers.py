"""Two images that share a base layer: the second push does not upload the layer again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._clients import Skopeo
from ._images import Corpus
from ._oci import resolve, verify_layout
from ._servers import Registry

pytestmark = pytest.mark.e2e

# c/image's debug log: a blob not uploaded because the registry has it (HEAD 200 or mount 201)
SKIPPED = re.compile(r"Skipping blob (sha256:[0-9a-f]{64}) \(already present\)")


@pytest.mark.parametrize("where", ["same-image", "other-image"])
def test_second_push_reuses_shared_base_layer(
    registry: Registry, skopeo: Skopeo, corpus: Corpus, ns: str, tmp_path: Path, where: str
) -> None:
    """`other-image` needs a cross-repository mount inside the `dev` repository key."""
    base = f"docker://{registry.host}/{ns}/shop/base:1"
    app = f"docker://{registry.host}/{ns}/shop/{'base' if where == 'same-image' else 'cart'}:2"
    skopeo.copy(corpus.oci("base"), base, "--preserve-digests")

    out = skopeo(
        "--debug", "copy", "--authfile", skopeo.authfile, "--dest-tls-verify=false",
        "--preserve-digests", corpus.oci("app"), app,
    )  # fmt: skip
    log = out.stdout + out.stderr
    skipped = set(SKIPPED.findall(log))
    wire = "\n".join(line for line in log.splitlines() if re.search(r"mount|HEAD|POST|PUT", line))
    assert corpus.base.layers[0] in skipped, (
        f"shared base layer {corpus.base.layers[0]} was uploaded again (expected an existing-blob "
        f"HEAD 200 or a cross-repository mount 201)\n{wire}"
    )
    if where == "other-image":
        assert "mount OK" in log, f"no cross-repository mount was made\n{wire}"

    for ref, image in ((base, corpus.base), (app, corpus.app)):
        dest = tmp_path / image.ref
        skopeo.copy(ref, f"oci:{dest}:x", "--preserve-digests")
        assert resolve(dest, "x")["digest"] == image.digest
        assert verify_layout(dest) == []

"""Real images built once per session with buildah from real files of this machine.

Everything lands in one OCI layout (refs below) plus a `dir:` copy of a Docker schema2 image:

    base         one layer: bash, os-release, bash docs
    app          FROM base + one layer (coreutils tools, docs, an app config): shares base's layer
    linux-amd64  small single-layer images, one per platform...
    linux-arm64
    multi        ...and an OCI image index of both
    sbom         OCI artifact (artifactType SPDX JSON) whose subject is `app`
    report       OCI artifact (another artifactType) whose subject is `app`
    v2s2/        `dir:` layout of an image committed in Docker format (schema2 manifest)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ._clients import Buildah
from ._oci import (
    DOCKER_MANIFEST_MT,
    Json,
    blob_path,
    read_blob,
    read_json_blob,
    resolve,
    sha256_digest,
    sha256_file,
    write_artifact,
    write_index,
)

SBOM_TYPE = "application/spdx+json"
REPORT_TYPE = "application/vnd.tidegate.e2e.test-report.v1+json"

BASE_FILES = {
    "/etc/os-release": "/etc/os-release",
    "/etc/debian_version": "/etc/debian_version",
    "/usr/bin/bash": "/usr/bin/bash",
    "/usr/share/doc/bash": "/usr/share/doc/bash",
}
APP_FILES = {
    "/usr/bin/sha256sum": "/app/bin/sha256sum",
    "/usr/bin/env": "/app/bin/env",
    "/usr/share/doc/coreutils": "/app/doc/coreutils",
}
DOCKER_FILES = {"/usr/bin/md5sum": "/opt/tools/md5sum", "/etc/debian_version": "/opt/VERSION"}


@dataclass(frozen=True)
class Image:
    """One manifest (or index) as written to a local layout, with its exact bytes."""

    ref: str
    media_type: str
    digest: str
    size: int
    raw: bytes

    @property
    def manifest(self) -> Json:
        data: Json = json.loads(self.raw)
        return data

    @property
    def layers(self) -> list[str]:
        return [layer["digest"] for layer in self.manifest.get("layers", [])]

    @property
    def config_digest(self) -> str:
        digest: str = self.manifest["config"]["digest"]
        return digest

    @property
    def descriptor(self) -> Json:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Corpus:
    layout: Path  # OCI layout with every ref
    base: Image
    app: Image
    amd64: Image
    arm64: Image
    multi: Image
    sbom: Image
    report: Image
    v2s2_dir: Path  # `dir:` transport layout
    v2s2: Image

    def oci(self, ref: str) -> str:
        """A containers-transports reference into the corpus layout."""
        return f"oci:{self.layout}:{ref}"


def _image(layout: Path, ref: str) -> Image:
    desc = resolve(layout, ref)
    return Image(
        ref, desc["mediaType"], desc["digest"], desc["size"], read_blob(layout, desc["digest"])
    )


def _commit(buildah: Buildah, container: str, name: str, fmt: str = "oci") -> None:
    buildah("commit", "--quiet", "--format", fmt, container, name)
    buildah("rm", container)


def _copy(buildah: Buildah, container: str, files: dict[str, str]) -> None:
    for src, dst in files.items():
        buildah("copy", container, src, dst)


def _sbom(files: dict[str, str]) -> bytes:
    """A small SPDX-like document describing real files (their sha256), as an SBOM would."""
    entries = []
    for src, dst in files.items():
        path = Path(src)
        targets = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for p in targets:
            entries.append({"fileName": dst + str(p)[len(src) :], "checksum": sha256_file(p)})
    doc = {
        "spdxVersion": "SPDX-2.3",
        "name": "tidegate-e2e-app",
        "creationInfo": {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "files": entries,
    }
    return json.dumps(doc, indent=1).encode()


def build_corpus(buildah: Buildah, out: Path) -> Corpus:
    """Build every image of the corpus into `out` (takes a few seconds)."""
    layout = out / "oci"
    prefix = "localhost/tidegate-e2e"

    c = buildah.out("from", "scratch")
    _copy(buildah, c, BASE_FILES)
    buildah(
        "config", "--os", "linux", "--arch", "amd64", "--env", "PATH=/usr/bin",
        "--cmd", "/usr/bin/bash", "--label", "org.opencontainers.image.title=tidegate-e2e-base", c,
    )  # fmt: skip
    _commit(buildah, c, f"{prefix}/base:1")

    c = buildah.out("from", "--pull-never", f"{prefix}/base:1")
    _copy(buildah, c, APP_FILES)
    (out / "app.json").write_text('{"service": "cart", "port": 8080}\n')
    buildah("copy", c, out / "app.json", "/app/config.json")
    buildah(
        "config", "--workingdir", "/app", "--entrypoint", '["/app/bin/env"]',
        "--label", "org.opencontainers.image.title=tidegate-e2e-app", c,
    )  # fmt: skip
    _commit(buildah, c, f"{prefix}/app:1")

    for arch in ("amd64", "arm64"):
        c = buildah.out("from", "scratch")
        buildah("copy", c, "/etc/os-release", "/etc/os-release")
        (out / f"platform-{arch}").write_text(f"linux/{arch}\n")
        buildah("copy", c, out / f"platform-{arch}", "/etc/platform")
        buildah("config", "--os", "linux", "--arch", arch, c)
        _commit(buildah, c, f"{prefix}/platform:{arch}")

    c = buildah.out("from", "--pull-never", f"{prefix}/base:1")
    _copy(buildah, c, DOCKER_FILES)
    _commit(buildah, c, f"{prefix}/docker:1", fmt="docker")

    for name, ref in [
        ("base:1", "base"),
        ("app:1", "app"),
        ("platform:amd64", "linux-amd64"),
        ("platform:arm64", "linux-arm64"),
    ]:
        buildah("push", "--quiet", f"{prefix}/{name}", f"oci:{layout}:{ref}")
    v2s2_dir = out / "v2s2"
    buildah("push", "--quiet", "--format", "v2s2", f"{prefix}/docker:1", f"dir:{v2s2_dir}")

    write_index(
        layout,
        "multi",
        [(layout, "linux-amd64"), (layout, "linux-arm64")],
        {"org.opencontainers.image.description": "tidegate e2e multi-arch index"},
    )
    app = _image(layout, "app")
    write_artifact(
        layout, "sbom",
        artifact_type=SBOM_TYPE, payload=_sbom(APP_FILES),
        payload_media_type="application/spdx+json", title="sbom.spdx.json",
        subject=app.descriptor, annotations={"org.opencontainers.image.description": "app SBOM"},
    )  # fmt: skip
    write_artifact(
        layout, "report",
        artifact_type=REPORT_TYPE, payload=Path("/etc/os-release").read_bytes(),
        payload_media_type="text/plain", title="environment.txt",
        subject=app.descriptor, annotations={"org.opencontainers.image.description": "QA report"},
    )  # fmt: skip

    v2s2_raw = (v2s2_dir / "manifest.json").read_bytes()
    v2s2 = Image("v2s2", DOCKER_MANIFEST_MT, sha256_digest(v2s2_raw), len(v2s2_raw), v2s2_raw)
    corpus = Corpus(
        layout=layout,
        base=_image(layout, "base"),
        app=app,
        amd64=_image(layout, "linux-amd64"),
        arm64=_image(layout, "linux-arm64"),
        multi=_image(layout, "multi"),
        sbom=_image(layout, "sbom"),
        report=_image(layout, "report"),
        v2s2_dir=v2s2_dir,
        v2s2=v2s2,
    )
    _check(corpus)
    return corpus


def _check(corpus: Corpus) -> None:
    """The corpus has the shape the tests rely on."""
    assert corpus.app.layers[0] == corpus.base.layers[0], "app does not share base's layer"
    assert len(corpus.app.layers) == 2, corpus.app.manifest
    assert corpus.v2s2.manifest["mediaType"] == DOCKER_MANIFEST_MT, corpus.v2s2.manifest
    assert corpus.v2s2.layers[0] == corpus.base.layers[0], "v2s2 image does not share base's layer"
    children = [m["digest"] for m in corpus.multi.manifest["manifests"]]
    assert children == [corpus.amd64.digest, corpus.arm64.digest], children
    assert read_json_blob(corpus.layout, corpus.arm64.config_digest)["architecture"] == "arm64"
    assert blob_path(corpus.layout, corpus.sbom.layers[0]).exists()

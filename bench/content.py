"""The bytes every target serves: a ~1 KB OCI image manifest, a config blob, a 1 KB blob and a
1 GiB random blob, plus unique 1 GiB upload bodies made without copying the big file.

An upload body is the big file with its last 32 bytes replaced by a per-upload trailer; the
sha256 state over the shared prefix is kept from generation, so each digest costs nothing and no
server can skip work because it already holds the blob.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

MIB = 1 << 20
GIB = 1 << 30
TRAILER = 32
READ = MIB

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
ACCEPT = ", ".join(
    [
        MANIFEST_TYPE,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """Upload body: `size - TRAILER` bytes of `path`, then `trailer`."""

    path: Path
    size: int
    trailer: bytes
    digest: str

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        end = self.size if length is None else start + length
        cut = self.size - TRAILER
        with self.path.open("rb", buffering=0) as f:
            f.seek(start)
            pos = start
            while pos < min(end, cut):
                data = f.read(min(READ, min(end, cut) - pos))
                if not data:
                    raise RuntimeError(f"{self.path} is shorter than expected")
                pos += len(data)
                yield data
        if end > cut:
            yield self.trailer[max(0, start - cut) : end - cut]


@dataclass
class BigFile:
    path: Path
    size: int
    digest: str
    prefix: _Hash  # sha256 state over the first size - TRAILER bytes

    def as_blob(self) -> Blob:
        """The file itself, as an upload body."""
        with self.path.open("rb") as f:
            f.seek(self.size - TRAILER)
            trailer = f.read()
        return Blob(self.path, self.size, trailer, self.digest)

    def variant(self, label: str) -> Blob:
        trailer = label.encode()[:TRAILER].ljust(TRAILER, b"\0")
        h = self.prefix.copy()
        h.update(trailer)
        return Blob(self.path, self.size, trailer, "sha256:" + h.hexdigest())


def make_big_file(path: Path, size: int) -> BigFile:
    """Write `size` random bytes (a multiple of 1 MiB) and hash them in the same pass."""
    rng = random.Random(os.urandom(16))
    h = hashlib.sha256()
    with path.open("wb") as f:
        for i in range(size // MIB):
            data = rng.randbytes(MIB)
            if i == size // MIB - 1:
                h.update(data[:-TRAILER])
                prefix = h.copy()
                h.update(data[-TRAILER:])
            else:
                h.update(data)
            f.write(data)
    return BigFile(path, size, "sha256:" + h.hexdigest(), prefix)


@dataclass(frozen=True)
class Image:
    manifest: bytes
    config: bytes
    small: bytes  # the 1 KB blob
    big: BigFile | None

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def small_digest(self) -> str:
        return sha256(self.small)


def _descriptor(media_type: str, digest: str, size: int) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def make_image(big: BigFile | None, manifest_size: int = 1024) -> Image:
    """A valid OCI image manifest padded to `manifest_size` bytes with an annotation."""
    small = os.urandom(1024)
    layers = [_descriptor(LAYER_TYPE, sha256(small), len(small))]
    if big is not None:
        layers.append(_descriptor(LAYER_TYPE, big.digest, big.size))
    diff_ids = [str(layer["digest"]) for layer in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        },
        separators=(",", ":"),
    ).encode()

    def render(pad: int) -> bytes:
        doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": _descriptor(CONFIG_TYPE, sha256(config), len(config)),
            "layers": layers,
            "annotations": {"org.opencontainers.image.description": "x" * pad},
        }
        return json.dumps(doc, indent=2).encode()

    manifest = render(0)
    manifest = render(max(0, manifest_size - len(manifest)))
    return Image(manifest, config, small, big)

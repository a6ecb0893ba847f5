"""Media types Tidegate understands, and Accept negotiation for manifests."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER_NONDISTRIBUTABLE_PREFIX = "application/vnd.oci.image.layer.nondistributable."
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = IMAGE_MANIFESTS | INDEXES
SCHEMA1 = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})


def is_foreign_layer(media_type: str) -> bool:
    """Layers a registry need not hold (they are fetched from their ``urls``)."""
    return media_type == DOCKER_FOREIGN_LAYER or media_type.startswith(
        OCI_LAYER_NONDISTRIBUTABLE_PREFIX
    )


def content_type_base(header: str | None) -> str:
    """``application/x; charset=utf-8`` -> ``application/x``."""
    return (header or "").split(";", 1)[0].strip().lower()

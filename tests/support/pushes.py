"""Pushing small made-up images over the /v2 API with httpx, for integration tests that need
content in a repository but do not test the push itself (that is tests/e2e with real clients)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import httpx


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unique(prefix: str = "shop/cart") -> str:
    """An image name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def push_blob(c: httpx.Client, name: str, data: bytes) -> str:
    """Monolithic POST-with-digest; the blob's digest."""
    r = c.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201, r.text
    return sha256(data)


def push(c: httpx.Client, name: str, ref: str, body: dict[str, Any]) -> tuple[bytes, str]:
    """PUT a manifest given as JSON; (its bytes, its digest)."""
    raw = json.dumps(body).encode()
    r = c.put(
        f"/v2/{name}/manifests/{ref}", content=raw, headers={"Content-Type": body["mediaType"]}
    )
    assert r.status_code == 201, r.text
    return raw, sha256(raw)


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def push_image(
    c: httpx.Client, name: str, ref: str, layers: list[bytes] | None = None
) -> tuple[bytes, str]:
    """Push a config (unique, so every call makes a new image), ``layers`` (default: one random
    layer) and an OCI manifest naming them, tagged ``ref``; (manifest bytes, digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": uuid.uuid4().hex}).encode()
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": push_blob(c, name, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": push_blob(c, name, layer),
                "size": len(layer),
            }
            for layer in (layers if layers is not None else [uuid.uuid4().bytes * 64])
        ],
    }
    return push(c, name, ref, body)

"""Integration tests: a real ``tidegate serve`` process and an HTTP client."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import RunningServer, tidegate_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with tidegate_server(tmp_path_factory.mktemp("integration") / "data") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture
def anon(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture
def name() -> str:
    """A fresh image name in the ``dev`` repository."""
    return f"dev/it/{uuid.uuid4().hex[:12]}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, name: str, data: bytes) -> str:
    digest = sha256(data)
    r = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


def image_manifest(client: httpx.Client, name: str, layer: bytes = b"layer") -> bytes:
    """Push a config and a layer; return the bytes of a manifest that references them."""
    config = b'{"architecture":"amd64","os":"linux"}'
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": push_blob(client, name, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": push_blob(client, name, layer),
                "size": len(layer),
            }
        ],
    }
    return json.dumps(body).encode()


def push_manifest(client: httpx.Client, name: str, ref: str, body: bytes) -> httpx.Response:
    return client.put(
        f"/v2/{name}/manifests/{ref}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])

"""Durability: a 201 survives SIGKILL; nothing partial is ever visible; uploads survive restarts."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.integration.conftest import OCI_MANIFEST, sha256
from tests.support.server import RunningServer, stop, tidegate_server


def _push_image(client: httpx.Client, name: str, tag: str, size: int) -> tuple[str, bytes, bytes]:
    layer = os.urandom(size)
    layer_digest = sha256(layer)
    start = client.post(f"/v2/{name}/blobs/uploads/")
    start.raise_for_status()
    loc = start.headers["location"]
    half = size // 2
    client.patch(loc, content=layer[:half], headers={"Content-Range": f"0-{half - 1}"})
    done = client.put(
        loc,
        params={"digest": layer_digest},
        content=layer[half:],
        headers={"Content-Range": f"{half}-{size - 1}"},
    )
    if done.status_code != 201:
        raise RuntimeError(done.text)
    config = f'{{"tag":"{tag}"}}'.encode()
    client.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": sha256(config)}, content=config
    ).raise_for_status()
    manifest = (
        f'{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",'
        f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json",'
        f'"digest":"{sha256(config)}","size":{len(config)}}},'
        f'"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
        f'"digest":"{layer_digest}","size":{size}}}]}}'
    ).encode()
    r = client.put(
        f"/v2/{name}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    if r.status_code != 201:
        raise RuntimeError(r.text)
    return tag, manifest, layer


def _storage_is_consistent(data_dir: Path) -> None:
    """Every file under blobs/ holds exactly the content its name promises."""
    root = data_dir / "storage" / "blobs"
    checked = 0
    for path in root.rglob("*"):
        if path.is_file():
            algorithm = path.parent.parent.name
            assert hashlib.new(algorithm, path.read_bytes()).hexdigest() == path.name, path
            checked += 1
    assert checked > 0


def test_acknowledged_pushes_survive_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    password = "durability-pass"
    acknowledged: list[tuple[str, str, bytes, bytes]] = []
    lock = threading.Lock()
    stop_pushing = threading.Event()

    def pusher(server: RunningServer, worker: int) -> None:
        with server.client() as client:
            i = 0
            while not stop_pushing.is_set():
                name = f"dev/durable/w{worker}"
                try:
                    tag, manifest, layer = _push_image(client, name, f"t{i}", 256 * 1024 + i)
                except (httpx.HTTPError, RuntimeError):
                    return  # the server died under us: this push was never acknowledged
                with lock:
                    acknowledged.append((name, tag, manifest, layer))
                i += 1

    with tidegate_server(data, password=password) as server:
        threads = [threading.Thread(target=pusher, args=(server, w)) for w in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop(server.proc, signal.SIGKILL)  # mid-push: the pushers are still sending
        stop_pushing.set()
        for t in threads:
            t.join(timeout=30)
    assert len(acknowledged) >= 12

    with tidegate_server(data, password=password) as server, server.client() as client:
        for name, tag, manifest, layer in acknowledged:
            got = client.get(f"/v2/{name}/manifests/{tag}")
            assert got.status_code == 200, (name, tag)
            assert got.content == manifest
            blob = client.get(f"/v2/{name}/blobs/{sha256(layer)}")
            assert blob.content == layer
        # Whatever is visible is whole: every tag resolves and every referenced blob is there.
        for worker in range(4):
            name = f"dev/durable/w{worker}"
            listing = client.get(f"/v2/{name}/tags/list")
            for tag in listing.json().get("tags", []):
                tagged = client.get(f"/v2/{name}/manifests/{tag}")
                assert tagged.status_code == 200
                for layer in tagged.json()["layers"]:
                    head = client.head(f"/v2/{name}/blobs/{layer['digest']}")
                    assert head.status_code == 200
                    assert head.headers["content-length"] == str(layer["size"])
    _storage_is_consistent(data)


def test_upload_session_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    payload = os.urandom(3 * 1024 * 1024)
    name = "dev/restart/app"
    with tidegate_server(data, password="restart-pass") as server, server.client() as client:
        r = client.post(f"/v2/{name}/blobs/uploads/")
        loc = r.headers["location"]
        first = client.patch(loc, content=payload[:1_000_000])
        assert first.headers["range"] == "0-999999"
    with tidegate_server(data, password="restart-pass") as server, server.client() as client:
        status = client.get(loc)
        assert status.status_code == 204
        assert status.headers["range"] == "0-999999"
        client.patch(
            loc,
            content=payload[1_000_000:],
            headers={"Content-Range": f"1000000-{len(payload) - 1}"},
        )
        done = client.put(loc, params={"digest": sha256(payload)})
        assert done.status_code == 201, done.text
        assert client.get(f"/v2/{name}/blobs/{sha256(payload)}").content == payload

"""GC racing uploads, mounts and manifest pushes on SQLite and on PostgreSQL, with two server
workers: the per-digest lock of docs/lifecycle.md seen from the wire. Nothing here waits for
time; the races are the registry's own."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.integration.conftest import OCI_MANIFEST, error_code, sha256
from tests.support.server import RunningServer, tidegate_server


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    env = {"TIDEGATE_WORKERS": "2"}
    if request.param == "postgresql":
        env["TIDEGATE_DATABASE_URL"] = str(request.getfixturevalue("postgres_url"))
    with tidegate_server(tmp_path / "data", env=env) as running:
        running.database_url = env.get(  # type: ignore[attr-defined]
            "TIDEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'tidegate.db'}"
        )
        yield running


def run_gc(client: httpx.Client) -> dict[str, Any]:
    r = client.post("/api/v1/gc", json={"grace": 0})
    assert r.status_code == 202, r.text
    job = r.json()
    while job["state"] == "running":
        time.sleep(0.02)
        job = client.get(job["url"]).json()
    assert job["state"] == "succeeded", job
    return dict(job["result"])


def upload(client: httpx.Client, name: str, data: bytes) -> str:
    r = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201, r.text
    return sha256(data)


def manifest_of(config: bytes, layer: bytes) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()


def rows_without_files(server: RunningServer) -> list[str]:
    engine = create_engine(server.database_url)  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            digests = [str(d) for d in conn.execute(text("SELECT digest FROM blobs")).scalars()]
    finally:
        engine.dispose()
    storage = server.data_dir / "storage" / "blobs" / "sha256"
    return [d for d in digests if not (storage / d[7:9] / d[7:]).exists()]


def test_a_collected_blob_is_uploaded_again_never_half_there(server: RunningServer) -> None:
    """The outcomes a client sees when GC wins: a mount falls back to an upload session, a
    manifest naming the blob answers MANIFEST_BLOB_UNKNOWN; pushing again works."""
    with server.client() as client:
        layer, config = uuid.uuid4().bytes * 100, b'{"os":"linux"}'
        upload(client, "dev/race/src", layer)
        upload(client, "dev/race/dst", config)
        assert run_gc(client)["blobs_removed"] >= 2
        r = client.post(
            "/v2/dev/race/dst/blobs/uploads/",
            params={"mount": sha256(layer), "from": "dev/race/src"},
        )
        assert r.status_code == 202  # not mounted: an upload session instead
        body = manifest_of(config, layer)
        r = client.put(
            "/v2/dev/race/dst/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
        upload(client, "dev/race/dst", layer)
        upload(client, "dev/race/dst", config)
        r = client.put(
            "/v2/dev/race/dst/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert r.status_code == 201, r.text
        assert client.get(f"/v2/dev/race/dst/blobs/{sha256(layer)}").content == layer
    assert rows_without_files(server) == []


def test_pushers_racing_gc_lose_nothing_they_were_told_was_stored(server: RunningServer) -> None:
    stop = threading.Event()
    problems: list[str] = []
    accepted: list[tuple[str, bytes, bytes, bytes]] = []
    gc_runs: list[dict[str, Any]] = []
    seen = {"mounted": 0, "fell_back": 0, "manifest_retries": 0}

    def collector() -> None:
        with server.client() as client:
            while not stop.is_set():
                try:
                    gc_runs.append(run_gc(client))
                except AssertionError as exc:
                    problems.append(f"gc: {exc}")

    def pusher(worker: int) -> None:
        with server.client() as client:
            i = 0
            while (i < 15 or len(gc_runs) < 3) and i < 500:  # until GC ran a few times
                i += 1
                layer = uuid.uuid4().bytes * 512
                config = json.dumps({"worker": worker, "i": i}).encode()
                src, dst = f"dev/race/w{worker}-src{i}", f"dev/race/w{worker}-dst{i}"
                body = manifest_of(config, layer)
                try:
                    upload(client, src, layer)
                    r = client.post(
                        f"/v2/{dst}/blobs/uploads/",
                        params={"mount": sha256(layer), "from": src},
                    )
                    assert r.status_code in (201, 202), r.text
                    seen["mounted" if r.status_code == 201 else "fell_back"] += 1
                    upload(client, dst, config)
                    for _ in range(50):
                        r = client.put(
                            f"/v2/{dst}/manifests/v1",
                            content=body,
                            headers={"Content-Type": OCI_MANIFEST},
                        )
                        if r.status_code == 201:
                            accepted.append((dst, body, config, layer))
                            break
                        assert r.status_code == 400, r.text
                        assert error_code(r) == "MANIFEST_BLOB_UNKNOWN", r.text
                        seen["manifest_retries"] += 1
                        upload(client, dst, layer)
                        upload(client, dst, config)
                except AssertionError as exc:
                    problems.append(f"pusher {worker}: {exc}")

    gc_thread = threading.Thread(target=collector)
    gc_thread.start()
    pushers = [threading.Thread(target=pusher, args=(w,)) for w in range(4)]
    for t in pushers:
        t.start()
    for t in pushers:
        t.join()
    stop.set()
    gc_thread.join()
    assert problems == []
    assert len(gc_runs) >= 2 and accepted
    with server.client() as client:
        run_gc(client)
        for dst, body, config, layer in accepted:
            r = client.get(f"/v2/{dst}/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200 and r.content == body
            assert client.get(f"/v2/{dst}/blobs/{sha256(config)}").content == config
            assert client.get(f"/v2/{dst}/blobs/{sha256(layer)}").content == layer
    assert rows_without_files(server) == []
    assert "unhandled error" not in server.log()
    print(f"{len(gc_runs)} GC runs, {len(accepted)} manifests accepted, {seen}")


def test_concurrent_pushes_cannot_squeeze_past_a_quota_together(server: RunningServer) -> None:
    """Six pushes of 1,000 bytes at once into a repository with room for three: exactly three
    are stored, whatever the interleaving (one arrival at a time into a repository with a
    quota)."""
    with server.client() as client:
        r = client.post(
            "/api/v1/repositories", json={"key": "tight", "kind": "local", "quota": 3000}
        )
        assert r.status_code == 201, r.text
    answers: list[int] = []

    def push(i: int) -> None:
        data = bytes([i]) * 1000
        with server.client() as client:
            r = client.post(
                f"/v2/tight/app{i}/blobs/uploads/", params={"digest": sha256(data)}, content=data
            )
            answers.append(r.status_code)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [201, 201, 201, 403, 403, 403]
    with server.client() as client:
        usage = client.get("/api/v1/storage/tight").json()
    assert usage["logical_bytes"] == 3000

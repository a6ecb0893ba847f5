"""Online garbage collection with real clients (docs/lifecycle.md): GC running again and again
(grace period 0) while skopeo and podman push a stream of images loses no acknowledged push;
blobs being uploaded and mounted during GC survive (raw HTTP interleavings, since the clients
cannot aim at the window); delete -> GC -> re-push of the same content with skopeo works.

The registry is this module's own Tidegate: a GC with grace 0 on the shared one would collect
what other tests pushed. The reference registry has no online GC, so these run on Tidegate only.
"""

from __future__ import annotations

import gzip
import io
import os
import sqlite3
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._clients import ContainersEnv, Podman, Skopeo, empty_authfile
from ._images import Corpus
from ._oci import (
    MANIFEST_MT,
    canon,
    init_layout,
    resolve,
    sha256_digest,
    tag,
    verify_layout,
    write_blob,
)
from ._servers import REPO_KEY, Registry, reference_mode, tidegate_registry

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(reference_mode(), reason="the reference registry has no online GC"),
]

STREAM = 8  # images each client pushes while GC runs
ATTEMPTS = 8  # a push that lost a race to GC is pushed again, as its user would


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    # deletions final at once: what GC does with content nothing holds (the trash's hold on
    # deleted content is tests/integration/test_gc.py::test_the_trash_holds_content_...)
    config = "trash_days: 0\n"
    with tidegate_registry(tmp_path_factory.mktemp("gc-registry"), config) as running:
        yield running


@pytest.fixture(scope="module")
def skopeo_gc(
    reg: Registry, cenv: ContainersEnv, tmp_path_factory: pytest.TempPathFactory
) -> Skopeo:
    path = empty_authfile(tmp_path_factory.mktemp("gc-auth") / "auth.json")
    Skopeo(cenv, path).login(reg.host, reg.username, reg.password, path)
    return Skopeo(cenv, path)


@pytest.fixture
def admin(reg: Registry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reg.url, auth=(reg.username, reg.password), timeout=120) as c:
        yield c


def run_gc(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    r = admin.post("/api/v1/gc", json={"grace": 0, **body})
    assert r.status_code == 202, r.text
    job = r.json()
    while job["state"] == "running":
        time.sleep(0.02)
        job = admin.get(job["url"]).json()
    assert job["state"] == "succeeded", job
    return dict(job)


class GcLoop:
    """GC with grace 0, one run after another (``pause`` seconds apart), in a thread, until
    stopped."""

    def __init__(self, reg: Registry, pause: float = 0.0) -> None:
        self._reg = reg
        self._pause = pause
        self._stop = threading.Event()
        self.results: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(
            base_url=self._reg.url, auth=(self._reg.username, self._reg.password), timeout=120
        ) as admin:
            while not self._stop.is_set():
                try:
                    self.results.append(run_gc(admin)["result"])
                except AssertionError as exc:
                    self.failures.append(str(exc))
                self._stop.wait(self._pause)

    def __enter__(self) -> GcLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=300)


def make_image(layout: Path, ref: str, base: bytes) -> str:
    """An image of two gzip layers (a base shared by every image, and one of its own) with a
    config whose diff_ids are right (podman checks them); tagged ``ref`` in ``layout``."""
    layers = []
    for payload in (base, os.urandom(48 * 1024) + ref.encode()):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(f"data-{sha256_digest(payload)[7:19]}")
            info.size = len(payload)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(payload))
        tar_bytes = raw.getvalue()
        gz = gzip.compress(tar_bytes, mtime=0)
        layers.append((write_blob(layout, gz), len(gz), sha256_digest(tar_bytes)))
    config = canon(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/data"]},
            "rootfs": {"type": "layers", "diff_ids": [d for _, _, d in layers]},
        }
    )
    manifest = canon(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MT,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": write_blob(layout, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest,
                    "size": size,
                }
                for digest, size, _ in layers
            ],
        }
    )
    digest = write_blob(layout, manifest)
    tag(layout, ref, {"mediaType": MANIFEST_MT, "digest": digest, "size": len(manifest)})
    return digest


def pulls_back_exact(skopeo: Skopeo, ref: str, digest: str, dest: Path) -> None:
    skopeo.copy(ref, f"oci:{dest}:x", "--preserve-digests")
    assert resolve(dest, "x")["digest"] == digest, ref
    assert verify_layout(dest) == [], ref


def every_blob_row_has_its_file(reg: Registry) -> list[str]:
    """Digests with a ``blobs`` row but no file: must be none."""
    with sqlite3.connect(reg.data_dir / "tidegate.db", timeout=30) as conn:
        digests = [r[0] for r in conn.execute("SELECT digest FROM blobs")]
    missing = []
    for digest in digests:
        algorithm, hexpart = digest.split(":", 1)
        if not (reg.data_dir / "storage" / "blobs" / algorithm / hexpart[:2] / hexpart).exists():
            missing.append(digest)
    return missing


def test_gc_running_repeatedly_loses_no_acknowledged_push(
    reg: Registry, skopeo_gc: Skopeo, podman: Podman, admin: httpx.Client, tmp_path: Path
) -> None:
    layout = tmp_path / "stream"
    init_layout(layout)
    base = os.urandom(64 * 1024)
    refs = [f"img{i}" for i in range(2 * STREAM)]
    digests = {ref: make_image(layout, ref, base) for ref in refs}
    ns = f"{REPO_KEY}/gc-{uuid.uuid4().hex[:8]}"
    acknowledged: list[tuple[str, str]] = []  # (docker:// reference, manifest digest)
    refused: list[str] = []

    def skopeo_pushes() -> None:
        for ref in refs[:STREAM]:
            dest = f"docker://{reg.host}/{ns}/skopeo/{ref}:1"
            for _ in range(ATTEMPTS):
                proc = skopeo_gc(
                    "copy", "--authfile", skopeo_gc.authfile, "--dest-tls-verify=false",
                    "--preserve-digests", f"oci:{layout}:{ref}", dest, check=False,
                )  # fmt: skip
                if proc.returncode == 0:
                    acknowledged.append((dest, digests[ref]))
                    break
                refused.append(proc.stderr[-2000:])  # the reason lists the digests

    def podman_pushes() -> None:
        for ref in refs[STREAM:]:
            image_id = podman("pull", "-q", f"oci:{layout}:{ref}").stdout.strip().splitlines()[-1]
            digestfile = tmp_path / f"{ref}.digest"
            dest = f"docker://{reg.host}/{ns}/podman/{ref}:1"
            for _ in range(ATTEMPTS):
                proc = podman(
                    "push", "--tls-verify=false", "--authfile", skopeo_gc.authfile,
                    "--digestfile", digestfile, image_id, dest, check=False,
                )  # fmt: skip
                if proc.returncode == 0:
                    acknowledged.append((dest, digestfile.read_text().strip()))
                    break
                refused.append(proc.stderr[-2000:])  # the reason lists the digests

    with GcLoop(reg, pause=0.2) as loop:
        pushers = [threading.Thread(target=skopeo_pushes), threading.Thread(target=podman_pushes)]
        for t in pushers:
            t.start()
        for t in pushers:
            t.join(timeout=900)
    assert loop.failures == []
    assert len(loop.results) >= 2, "GC did not run while the clients pushed"
    run_gc(admin)  # and once more after the last push
    # with grace 0 a push may lose a race (MANIFEST_BLOB_UNKNOWN: its blobs were collected
    # before its manifest named them); it was then never acknowledged, and pushed again
    assert all("blob unknown" in r for r in refused), "\n---\n".join(refused)
    clients = {ref.split("/")[-2] for ref, _ in acknowledged}
    assert clients == {"skopeo", "podman"}, refused
    print(f"{len(acknowledged)} pushes acknowledged, {len(refused)} lost a race to GC")
    for i, (ref, digest) in enumerate(acknowledged):
        pulls_back_exact(skopeo_gc, ref, digest, tmp_path / f"back{i}")
    assert every_blob_row_has_its_file(reg) == []
    assert "unhandled error" not in reg.log.read_text(errors="replace")


def test_blobs_uploaded_and_mounted_during_gc_survive(reg: Registry, admin: httpx.Client) -> None:
    """Upload a blob, mount it into another image, push a manifest naming it, while GC (grace
    0) runs without pause. Each step may find the blob collected in between: the mount then
    falls back to an upload session (202), the manifest PUT answers MANIFEST_BLOB_UNKNOWN and the
    client pushes again; never a 500, never a row without its file, and every manifest the
    registry accepted pulls back whole."""
    ns = f"{REPO_KEY}/race-{uuid.uuid4().hex[:8]}"
    accepted: list[tuple[str, bytes, dict[str, bytes]]] = []
    outcomes: dict[str, int] = {"mounted": 0, "fell_back": 0, "manifest_retries": 0}

    def upload(name: str, data: bytes) -> str:
        digest = sha256_digest(data)
        r = admin.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
        assert r.status_code == 201, r.text
        return digest

    def mount(name: str, source: str, data: bytes) -> None:
        digest = sha256_digest(data)
        r = admin.post(f"/v2/{name}/blobs/uploads/", params={"mount": digest, "from": source})
        assert r.status_code in (201, 202), r.text
        if r.status_code == 201:
            outcomes["mounted"] += 1
            return
        outcomes["fell_back"] += 1  # collected meanwhile: upload it into the session offered
        r = admin.put(r.headers["Location"], params={"digest": digest}, content=data)
        assert r.status_code == 201, r.text

    with GcLoop(reg) as loop:
        for i in range(40):
            layer, config = os.urandom(32 * 1024), canon({"n": i, "id": uuid.uuid4().hex})
            source, target = f"{ns}/src{i}", f"{ns}/dst{i}"
            upload(source, layer)
            mount(target, source, layer)
            manifest = canon(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST_MT,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": upload(target, config),
                        "size": len(config),
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": sha256_digest(layer),
                            "size": len(layer),
                        }
                    ],
                }
            )
            for _attempt in range(50):
                r = admin.put(
                    f"/v2/{target}/manifests/v1",
                    content=manifest,
                    headers={"Content-Type": MANIFEST_MT},
                )
                if r.status_code == 201:
                    break
                assert r.status_code == 400, r.text
                assert r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN", r.text
                outcomes["manifest_retries"] += 1
                upload(target, layer)  # the client pushes the missing blobs again
                upload(target, config)
            assert r.status_code == 201, f"40 GC races lost in a row: {outcomes}"
            blobs = {sha256_digest(layer): layer, sha256_digest(config): config}
            accepted.append((target, manifest, blobs))
    assert loop.failures == [] and len(loop.results) >= 2
    run_gc(admin)
    for target, manifest, blobs in accepted:
        r = admin.get(f"/v2/{target}/manifests/v1", headers={"Accept": MANIFEST_MT})
        assert r.status_code == 200 and r.content == manifest
        for digest, data in blobs.items():
            got = admin.get(f"/v2/{target}/blobs/{digest}")
            assert got.status_code == 200 and got.content == data, (target, digest)
    assert every_blob_row_has_its_file(reg) == []
    assert "unhandled error" not in reg.log.read_text(errors="replace")
    print("interleavings:", outcomes)


def test_delete_gc_and_push_again_with_skopeo(
    reg: Registry, skopeo_gc: Skopeo, corpus: Corpus, admin: httpx.Client, tmp_path: Path
) -> None:
    ref = f"docker://{reg.host}/{REPO_KEY}/gc-{uuid.uuid4().hex[:8]}/app:1"
    skopeo_gc.copy(corpus.oci("app"), ref, "--preserve-digests")
    name = ref.removeprefix(f"docker://{reg.host}/").rsplit(":", 1)[0]
    skopeo_gc.delete(ref)

    result = run_gc(admin)["result"]
    assert result["blobs_removed"] >= len(corpus.app.layers)
    for layer in corpus.app.layers:
        assert admin.head(f"/v2/{name}/blobs/{layer}").status_code == 404

    skopeo_gc.copy(corpus.oci("app"), ref, "--preserve-digests")
    pulls_back_exact(skopeo_gc, ref, corpus.app.digest, tmp_path / "again")
    assert every_blob_row_has_its_file(reg) == []

"""Online garbage collection, storage accounting and quotas (docs/lifecycle.md) through a real
``tidegate serve``: what a user of the registry would notice. The server is this module's own
(GC with a grace period of 0 would otherwise collect other tests' content mid-test).

Time is never waited for: an "old" upload session is one whose row and bytes the test dates
back in the database and on disk, as 24 hours of idleness would have."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    OCI_MANIFEST,
    error_code,
    push_blob,
    push_manifest,
    sha256,
)
from tests.integration.test_cli import Cli
from tests.support.server import RunningServer, tidegate_server

API = "/api/v1"
PASSWORD = "a-long-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Deletions are final here (``trash_days: 0``): what GC does with content nothing holds.
    How the trash holds content is test_the_trash_holds_content_until_it_expires."""
    base = tmp_path_factory.mktemp("gc")
    config = base / "tidegate.yaml"
    config.write_text("trash_days: 0\n")
    with tidegate_server(base / "data", config=config) as running:
        yield running


@pytest.fixture
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def blob_file(server: RunningServer, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return server.data_dir / "storage" / "blobs" / "sha256" / hexpart[:2] / hexpart


def database(server: RunningServer) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "tidegate.db", timeout=30)


def gc(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    """Start a run, follow its job to the end, return the job."""
    r = admin.post(f"{API}/gc", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == job["url"] == f"{API}/jobs/{job['id']}"
    while job["state"] == "running":
        time.sleep(0.05)
        job = admin.get(job["url"]).json()
    assert job["state"] == "succeeded", job
    return dict(job)


def image(admin: httpx.Client, name: str, layer: bytes) -> tuple[bytes, str, str, str]:
    """Push a config and ``layer`` and a manifest naming them; (manifest, its digest, config
    digest, layer digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "layer": sha256(layer)}).encode()
    config_digest = push_blob(admin, name, config)
    layer_digest = push_blob(admin, name, layer)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = push_manifest(admin, name, "v1", body)
    assert r.status_code == 201, r.text
    return body, r.headers["Docker-Content-Digest"], config_digest, layer_digest


def pull_exact(client: httpx.Client, name: str, ref: str, manifest: bytes) -> None:
    r = client.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    assert r.content == manifest
    doc = json.loads(manifest)
    for descriptor in [doc["config"], *doc["layers"]]:
        got = client.get(f"/v2/{name}/blobs/{descriptor['digest']}")
        assert got.status_code == 200, got.text
        assert sha256(got.content) == descriptor["digest"]


def events(server: RunningServer, kind: str) -> list[dict[str, Any]]:
    with database(server) as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE type = ? ORDER BY id", (kind,)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


# --- GC --------------------------------------------------------------------------------------


def test_delete_then_gc_removes_the_bytes_and_the_same_content_pushes_again(
    server: RunningServer, admin: httpx.Client
) -> None:
    name = f"dev/{unique('app')}"
    layer = os.urandom(4096)
    manifest, digest, config_digest, layer_digest = image(admin, name, layer)
    assert blob_file(server, layer_digest).exists()
    assert admin.delete(f"/v2/{name}/manifests/{digest}").status_code == 202

    job = gc(admin, grace=0)
    result = job["result"]
    assert result["blobs_removed"] >= 2 and result["bytes_freed"] >= len(layer)
    assert result["links_removed"] >= 2 and result["dry_run"] is False
    assert result["manifest_contents_removed"] >= 1
    assert job["progress"]["phase"] == "done"
    assert not blob_file(server, layer_digest).exists()
    assert not blob_file(server, config_digest).exists()
    r = admin.get(f"/v2/{name}/blobs/{layer_digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    assert admin.head(f"/v2/{name}/manifests/{digest}").status_code == 404
    # the run is an event and an audit record
    assert any(
        e["job"] == job["id"] and e["blobs_removed"] >= 2 for e in events(server, "gc.completed")
    )
    audit = admin.get(f"{API}/audit", params={"action": "gc.completed"}).json()
    assert any(a["detail"]["job"] == job["id"] for a in audit)

    again, digest_again, _, _ = image(admin, name, layer)
    assert (again, digest_again) == (manifest, digest)
    pull_exact(admin, name, "v1", manifest)
    assert blob_file(server, layer_digest).exists()


def test_the_trash_holds_content_until_it_expires(tmp_path: Path) -> None:
    """With the trash on (the default), a deleted image's bytes survive GC and a restore pulls
    byte-exact; once its entry expires, the next GC frees them."""
    with tidegate_server(tmp_path / "data") as trashy, trashy.client() as admin:
        name = f"dev/{unique('kept')}"
        layer = os.urandom(4096)
        manifest, digest, config_digest, layer_digest = image(admin, name, layer)
        assert admin.delete(f"/v2/{name}/manifests/{digest}").status_code == 202
        gc(admin, grace=0)
        assert blob_file(trashy, layer_digest).exists()  # held by the trash entry
        entries = admin.get(f"{API}/trash", params={"repo": "dev"}).json()
        entry = next(e for e in entries if e["digest"] == digest)
        r = admin.post(f"{API}/trash/{entry['id']}/restore")
        assert r.status_code == 200, r.text
        pull_exact(admin, name, digest, manifest)

        assert admin.delete(f"/v2/{name}/manifests/{digest}").status_code == 202
        with database(trashy) as conn:  # the trash_days have passed
            conn.execute("UPDATE trash SET expires_at = '2000-01-01 00:00:00.000000'")
        result = gc(admin, grace=0)["result"]
        assert result["trash_purged"] >= 1 and result["blobs_removed"] >= 2
        assert not blob_file(trashy, layer_digest).exists()
        assert not blob_file(trashy, config_digest).exists()
        assert admin.get(f"{API}/trash", params={"repo": "dev", "digest": digest}).json() == []


def test_a_purged_trash_entry_stops_counting_against_the_quota_after_gc(tmp_path: Path) -> None:
    """Deleted images count until their trash entry goes: the refusal says so, and purging the
    entry (then GC) makes the room the message promises."""
    with tidegate_server(tmp_path / "data") as trashy, trashy.client() as admin:
        key = quota_repo(admin, "8KiB")
        _, digest, _, layer_digest = image(admin, f"{key}/app", os.urandom(4096))
        assert admin.delete(f"/v2/{key}/app/manifests/{digest}").status_code == 202
        gc(admin, grace=0)
        more = os.urandom(4096)
        r = admin.post(
            f"/v2/{key}/app/blobs/uploads/", params={"digest": sha256(more)}, content=more
        )
        assert_quota_refusal(r, key)
        message = r.json()["errors"][0]["message"]
        assert "until their trash entry expires" in message and "trash purge" in message

        [entry] = admin.get(f"{API}/trash", params={"repo": key}).json()
        assert admin.delete(f"{API}/trash/999999999").status_code == 404
        r = admin.delete(f"{API}/trash/{entry['id']}")
        assert r.status_code == 200, r.text
        assert r.json()["digest"] == digest
        assert admin.get(f"{API}/trash", params={"repo": key}).json() == []
        assert admin.post(f"{API}/trash/{entry['id']}/restore").status_code == 404
        audit = admin.get(f"{API}/audit", params={"action": "trash.purged"}).json()
        assert any(a["detail"]["trash_id"] == entry["id"] for a in audit)

        gc(admin, grace=0)
        assert not blob_file(trashy, layer_digest).exists()
        r = admin.post(
            f"/v2/{key}/app/blobs/uploads/", params={"digest": sha256(more)}, content=more
        )
        assert r.status_code == 201, r.text


def test_a_dry_run_reports_and_changes_nothing(server: RunningServer, admin: httpx.Client) -> None:
    name = f"dev/{unique('dry')}"
    _, digest, _, layer_digest = image(admin, name, os.urandom(2048))
    assert admin.delete(f"/v2/{name}/manifests/{digest}").status_code == 202
    before = events(server, "gc.completed")

    job = gc(admin, dry_run=True, grace="0s")
    assert job["result"]["dry_run"] is True
    assert job["result"]["blobs_removed"] >= 2
    assert blob_file(server, layer_digest).exists()
    assert admin.get(f"/v2/{name}/blobs/{layer_digest}").status_code == 200  # still linked
    assert events(server, "gc.completed") == before  # a dry run is audited, not published
    audit = admin.get(f"{API}/audit", params={"action": "gc.dry_run"}).json()
    assert any(a["detail"]["job"] == job["id"] for a in audit)
    # with the default grace period (1 hour) even the real run keeps what was just pushed
    assert gc(admin)["result"]["blobs_removed"] == 0
    assert blob_file(server, layer_digest).exists()


def test_a_blob_shared_with_another_repository_survives_its_deletion_from_one(
    server: RunningServer, admin: httpx.Client
) -> None:
    img = unique("shared")
    manifest, digest, _, layer_digest = image(admin, f"dev/{img}", os.urandom(3000))
    r = admin.post(
        f"{API}/promotions", json={"source": "dev", "target": "test", "image": img, "tag": "v1"}
    )
    assert r.status_code == 201, r.text
    assert admin.delete(f"/v2/dev/{img}/manifests/{digest}").status_code == 202

    gc(admin, grace=0)
    assert blob_file(server, layer_digest).exists()
    pull_exact(admin, f"test/{img}", "v1", manifest)
    # dev's own link went with its manifest: dev no longer serves the blob
    assert admin.get(f"/v2/dev/{img}/blobs/{layer_digest}").status_code == 404


def test_uploads_in_progress_survive_and_abandoned_ones_are_purged(
    server: RunningServer, admin: httpx.Client
) -> None:
    name = f"dev/{unique('up')}"
    first, second = os.urandom(1000), os.urandom(1000)

    def start() -> str:
        r = admin.post(f"/v2/{name}/blobs/uploads/")
        assert r.status_code == 202
        return str(r.headers["Location"])

    live = start()
    r = admin.patch(live, content=first, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202
    live = r.headers["Location"]
    abandoned = start()
    abandoned_id = abandoned.rstrip("/").split("/")[-1].split("?")[0]
    # a day passes for the abandoned session only: its row and its bytes date back
    long_ago = time.time() - 2 * 86400
    with database(server) as conn:
        conn.execute(
            "UPDATE uploads SET updated_at = '2000-01-01 00:00:00.000000' WHERE id = ?",
            (abandoned_id,),
        )
    uploads_dir = server.data_dir / "storage" / "uploads"
    os.utime(uploads_dir / abandoned_id / "data", (long_ago, long_ago))
    # and a server killed during a monolithic upload left a directory without a row
    orphan = uploads_dir / uuid.uuid4().hex
    orphan.mkdir()
    (orphan / "data").write_bytes(b"half a layer")
    os.utime(orphan / "data", (long_ago, long_ago))
    os.utime(orphan, (long_ago, long_ago))

    job = gc(admin, grace=0)
    assert job["result"]["uploads_purged"] >= 2
    assert not orphan.exists()
    assert not (uploads_dir / abandoned_id).exists()
    r = admin.get(abandoned)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"

    r = admin.put(live, params={"digest": sha256(first + second)}, content=second)
    assert r.status_code == 201, r.text
    got = admin.get(f"/v2/{name}/blobs/{sha256(first + second)}")
    assert got.content == first + second


def test_blob_files_without_a_row_are_removed_once_old(
    server: RunningServer, admin: httpx.Client
) -> None:
    """A crash between an upload's move into place and its commit leaves a file no row names."""
    old, fresh = os.urandom(700), os.urandom(800)
    for data in (old, fresh):
        path = blob_file(server, sha256(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    long_ago = time.time() - 2 * 86400
    os.utime(blob_file(server, sha256(old)), (long_ago, long_ago))

    dry = gc(admin, dry_run=True)["result"]
    assert dry["orphan_files_removed"] >= 1 and blob_file(server, sha256(old)).exists()
    result = gc(admin)["result"]  # default grace: the fresh one is kept
    assert result["orphan_files_removed"] >= 1 and result["bytes_freed"] >= len(old)
    assert not blob_file(server, sha256(old)).exists()
    assert blob_file(server, sha256(fresh)).exists()
    # an upload of the same content as a kept orphan file reuses it and works
    name = f"dev/{unique('orphan')}"
    push_blob(admin, name, fresh)
    assert admin.get(f"/v2/{name}/blobs/{sha256(fresh)}").content == fresh


def test_one_run_at_a_time_and_jobs_are_found_by_id(admin: httpx.Client) -> None:
    r = admin.get(f"{API}/jobs/{'0' * 32}")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    job = gc(admin, dry_run=True)
    listed = admin.get(f"{API}/gc").json()
    assert job["id"] in [j["id"] for j in listed]
    r = admin.post(f"{API}/gc", json={"grace": "soon"})
    assert r.status_code == 400 and "grace" in r.json()["message"]


# --- accounting --------------------------------------------------------------------------------


def test_storage_accounting_of_a_known_image(server: RunningServer, admin: httpx.Client) -> None:
    key = unique("acct")
    assert admin.post(f"{API}/repositories", json={"key": key, "kind": "local"}).status_code == 201
    layer = os.urandom(10_000)
    manifest, _, config_digest, _ = image(admin, f"{key}/app", layer)
    config_size = len(admin.get(f"/v2/{key}/app/blobs/{config_digest}").content)
    # the same layer in a second image of the repository counts once for the repository
    push_blob(admin, f"{key}/tool", layer)

    r = admin.get(f"{API}/storage/{key}")
    assert r.status_code == 200, r.text
    repo = r.json()
    assert repo["blobs"] == 2
    assert repo["blob_bytes"] == len(layer) + config_size
    assert repo["manifests"] == 1 and repo["manifest_bytes"] == len(manifest)
    assert repo["logical_bytes"] == len(layer) + config_size + len(manifest)
    images = {i["image"]: i for i in repo["images"]}
    assert images["app"]["logical_bytes"] == len(layer) + config_size + len(manifest)
    assert images["tool"]["logical_bytes"] == len(layer)

    summary = admin.get(f"{API}/storage").json()
    listed = {r["repository"]: r for r in summary["repositories"]}
    assert listed[key]["logical_bytes"] == repo["logical_bytes"]
    assert summary["on_disk"]["blob_bytes"] >= len(layer) + config_size
    assert summary["on_disk"]["bytes"] == (
        summary["on_disk"]["blob_bytes"] + summary["on_disk"]["manifest_bytes"]
    )


# --- quotas ----------------------------------------------------------------------------------


def quota_repo(admin: httpx.Client, quota: str | int) -> str:
    key = unique("quota")
    r = admin.post(f"{API}/repositories", json={"key": key, "kind": "local", "quota": quota})
    assert r.status_code == 201, r.text
    return key


def assert_quota_refusal(r: httpx.Response, key: str) -> None:
    assert r.status_code == 403, r.text
    assert error_code(r) == "DENIED"
    message = r.json()["errors"][0]["message"]
    assert key in message and "quota" in message and "uses" in message


def test_quota_refuses_an_upload_and_a_mount_past_the_limit_and_stores_nothing(
    server: RunningServer, admin: httpx.Client
) -> None:
    key = quota_repo(admin, "4KiB")
    assert admin.get(f"{API}/repositories/{key}").json()["options"]["quota"] == 4096
    push_blob(admin, f"{key}/app", os.urandom(3000))
    big = os.urandom(2000)
    r = admin.post(f"/v2/{key}/app/blobs/uploads/", params={"digest": sha256(big)}, content=big)
    assert_quota_refusal(r, key)
    assert "4.0 KiB" in r.json()["errors"][0]["message"]
    assert admin.head(f"/v2/{key}/app/blobs/{sha256(big)}").status_code == 404
    assert not blob_file(server, sha256(big)).exists()
    # chunked: the refusal comes at the final PUT, and the session is gone with its bytes
    r = admin.post(f"/v2/{key}/app/blobs/uploads/")
    location = r.headers["Location"]
    r = admin.put(location, params={"digest": sha256(big)}, content=big)
    assert_quota_refusal(r, key)
    assert admin.get(location).status_code == 404
    # a mount of a blob that dev holds is refused the same way
    push_blob(admin, "dev/quota-source", big)
    r = admin.post(
        f"/v2/{key}/app/blobs/uploads/",
        params={"mount": sha256(big), "from": "dev/quota-source"},
    )
    assert_quota_refusal(r, key)
    assert admin.head(f"/v2/{key}/app/blobs/{sha256(big)}").status_code == 404
    refusals = [e for e in events(server, "quota.exceeded") if e["repository"] == key]
    assert len(refusals) == 3 and refusals[0]["quota"] == 4096


def test_quota_refuses_a_manifest_past_the_limit(admin: httpx.Client) -> None:
    key = quota_repo(admin, 1000)
    config = b"{}"
    layer = os.urandom(900)
    push_blob(admin, f"{key}/app", config)
    push_blob(admin, f"{key}/app", layer)
    body = json.dumps(
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
    r = push_manifest(admin, f"{key}/app", "v1", body)
    assert_quota_refusal(r, key)
    assert admin.get(f"/v2/{key}/app/manifests/v1").status_code == 404
    assert admin.get(f"/v2/{key}/app/tags/list").json()["tags"] == []
    # raising the quota lets the same push through
    r = admin.patch(f"{API}/repositories/{key}", json={"quota": "1MiB"})
    assert r.status_code == 200, r.text
    assert push_manifest(admin, f"{key}/app", "v1", body).status_code == 201


def test_quota_refuses_a_promotion_that_would_pass_it(admin: httpx.Client) -> None:
    key = quota_repo(admin, "2KiB")
    img = unique("promo")
    image(admin, f"dev/{img}", os.urandom(5000))
    r = admin.post(
        f"{API}/promotions", json={"source": "dev", "target": key, "image": img, "tag": "v1"}
    )
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "DENIED" and key in r.json()["message"]
    assert "quota" in r.json()["message"]
    assert admin.get(f"/v2/{key}/{img}/manifests/v1").status_code == 404
    assert admin.get(f"{API}/storage/{key}").json()["logical_bytes"] == 0


def test_quota_values_are_checked(admin: httpx.Client) -> None:
    r = admin.post(
        f"{API}/repositories", json={"key": unique("q"), "kind": "local", "quota": "lots"}
    )
    assert r.status_code == 400 and "quota" in r.json()["message"]


# --- permissions -----------------------------------------------------------------------------


def test_gc_jobs_and_storage_are_for_admins(server: RunningServer, admin: httpx.Client) -> None:
    username = unique("dev")
    r = admin.post(
        f"{API}/users",
        json={"username": username, "password": PASSWORD, "groups": ["developers"]},
    )
    assert r.status_code == 201, r.text
    job = gc(admin, dry_run=True)
    with httpx.Client(base_url=server.url, auth=(username, PASSWORD), timeout=30) as dev:
        for method, path in [
            ("POST", f"{API}/gc"),
            ("GET", f"{API}/gc"),
            ("GET", f"{API}/jobs/{job['id']}"),
            ("GET", f"{API}/storage"),
            ("GET", f"{API}/storage/dev"),
        ]:
            r = dev.request(method, path, json={} if method == "POST" else None)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["code"] == "DENIED"


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_gc_and_storage(server: RunningServer, admin: httpx.Client, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    login = cli("login", server.url, "-u", "admin", "--password-stdin", stdin=server.password)
    assert login.code == 0, login.err
    name = f"dev/{unique('cli')}"
    _, digest, _, layer_digest = image(admin, name, os.urandom(1500))
    assert admin.delete(f"/v2/{name}/manifests/{digest}").status_code == 202

    run = cli("gc", "--dry-run", "--grace", "0")
    assert run.code == 0, run.err
    assert "dry run" in run.out and "would remove" in run.out
    assert blob_file(server, layer_digest).exists()
    run = cli("gc", "--wait", "--grace", "0", "--json")
    assert run.code == 0, run.err
    assert run.json()["result"]["blobs_removed"] >= 2
    assert not blob_file(server, layer_digest).exists()
    run = cli("gc")
    assert run.code == 0 and "job" in run.out

    run = cli("storage")
    assert run.code == 0 and "on disk" in run.out and "dev" in run.out
    run = cli("storage", "dev", "--json")
    assert run.code == 0 and run.json()["repository"] == "dev"
    run = cli("repo", "show", "dev", "--json")
    assert run.code == 0 and "logical_bytes" in run.json()["storage"]

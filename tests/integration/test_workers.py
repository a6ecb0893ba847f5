"""Several worker processes: what one worker changes, every other one serves at once."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import image_manifest, push_manifest, sha256
from tests.support.server import tidegate_server


def test_delete_and_move_are_seen_by_every_worker(tmp_path: Path) -> None:
    name = "dev/workers/app"
    env = {"TIDEGATE_WORKERS": "2"}
    with tidegate_server(tmp_path / "data", env=env) as server:
        # Separate connections land on both workers; each warms its manifest cache.
        with server.client() as c:
            first = image_manifest(c, name, layer=b"one")
            assert push_manifest(c, name, "v", first).status_code == 201
        for _ in range(20):
            with server.client() as c:
                assert c.get(f"/v2/{name}/manifests/v").content == first
        # Move the tag, then delete it: no worker may serve the old answer afterwards.
        with server.client() as c:
            second = image_manifest(c, name, layer=b"two")
            assert push_manifest(c, name, "v", second).status_code == 201
        for _ in range(20):
            with server.client() as c:
                got = c.get(f"/v2/{name}/manifests/v")
                assert got.headers["docker-content-digest"] == sha256(second)
        with server.client() as c:
            assert c.delete(f"/v2/{name}/manifests/v").status_code == 202
        for _ in range(20):
            with server.client() as c:
                assert c.get(f"/v2/{name}/manifests/v").status_code == 404


def test_the_same_chunk_sent_to_several_workers_is_taken_once(tmp_path: Path) -> None:
    import concurrent.futures
    import os

    chunk = os.urandom(3_000_000)
    with tidegate_server(tmp_path / "data", env={"TIDEGATE_WORKERS": "2"}) as server:
        for _ in range(5):
            with server.client() as c:
                loc = c.post("/v2/dev/workers/race/blobs/uploads/").headers["location"]

            def patch(loc: str = loc) -> int:
                with server.client() as c:
                    r = c.patch(loc, content=chunk, headers={"Content-Range": "0-2999999"})
                    return r.status_code

            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                codes = sorted(pool.map(lambda _: patch(), range(4)))
            assert codes == [202, 416, 416, 416]
            with server.client() as c:
                assert c.get(loc).headers["range"] == "0-2999999"

"""The remote cache across processes and behind a token-auth upstream: exactly one upstream
fetch for concurrent cold pulls landing on several workers (the lease row), and distribution
behind its Docker token service (Basic credentials on the realm, one token per scope)."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from tests.integration.test_remote import ACCEPT, FaultProxy, metric_of, pull, seed_image
from tests.support.server import tidegate_server
from tests.support.upstream import Upstream, distribution_upstream


def remote_config(path: Path, upstream: Upstream, via: str | None = None) -> Path:
    remote = {
        "key": "hub",
        "kind": "remote",
        "upstream": via or upstream.url,
        "upstream_username": upstream.username,
        "upstream_password": upstream.password,
    }
    path.write_text(yaml.safe_dump({"repositories": [remote]}))
    return path


def test_concurrent_cold_pulls_on_several_workers_fetch_once(tmp_path: Path) -> None:
    with distribution_upstream(tmp_path / "upstream") as upstream:
        layer = os.urandom(8 << 20)
        image = seed_image(upstream, tmp_path, "team/popular:1", layer)
        config = remote_config(tmp_path / "tidegate.yaml", upstream)
        env = {"TIDEGATE_WORKERS": "2"}
        with tidegate_server(tmp_path / "data", env=env, config=config) as server:
            since = upstream.mark()

            def get(path: str) -> bytes:
                with server.client() as c:  # a connection each: they spread over the workers
                    r = c.get(path, headers=ACCEPT)
                    assert r.status_code == 200, r.text
                    return r.content

            with ThreadPoolExecutor(20) as pool:
                manifests = list(pool.map(get, ["/v2/hub/team/popular/manifests/1"] * 20))
                blob = f"/v2/hub/team/popular/blobs/{image.layer_digest}"
                blobs = list(pool.map(get, [blob] * 20))
            assert manifests == [image.manifest] * 20
            assert all(b == layer for b in blobs)
            # fetches answered 200; a worker's first request may meet the 401 Basic challenge
            requests = upstream.describe_requests(since)
            manifest_path = "/v2/team/popular/manifests/1"
            assert upstream.count("GET", manifest_path, status=200, since=since) == 1, requests
            blob_path = f"/v2/team/popular/blobs/{re.escape(image.layer_digest)}"
            assert upstream.count("GET", blob_path, status=200, since=since) == 1, requests


def test_distribution_behind_its_token_service(tmp_path: Path) -> None:
    with distribution_upstream(tmp_path / "upstream", auth="token") as upstream:
        image = seed_image(upstream, tmp_path, "team/app:1.0", os.urandom(50_000))
        config = remote_config(tmp_path / "tidegate.yaml", upstream)
        with tidegate_server(tmp_path / "data", config=config) as server, server.client() as c:
            assert upstream.token_server is not None
            issued = upstream.token_server.issued
            r, blobs = pull(c, "hub/team/app", "1.0")
            assert r.content == image.manifest
            assert blobs == [image.config, image.layer]
            # one token for the image's scope, reused for the manifest and both blobs
            assert upstream.token_server.issued == issued + 1
            assert metric_of(server, "tidegate_upstream_requests_total", kind="token") == 1
            assert upstream.password not in server.log()


def test_two_replicas_on_postgresql_fetch_once(tmp_path: Path, postgres_url: str) -> None:
    """Two ``tidegate serve`` replicas over one PostgreSQL database and one storage root:
    pulls spread over both, one upstream fetch in the deployment."""
    with distribution_upstream(tmp_path / "upstream") as upstream:
        layer = os.urandom(8 << 20)
        image = seed_image(upstream, tmp_path, "team/replicated:1", layer)
        config = remote_config(tmp_path / "tidegate.yaml", upstream)
        settings = yaml.safe_load(config.read_text())
        settings["storage"] = {"driver": "filesystem", "root": str(tmp_path / "shared-storage")}
        config.write_text(yaml.safe_dump(settings))
        env = {"TIDEGATE_DATABASE_URL": postgres_url}
        with (
            tidegate_server(tmp_path / "a", env=env, config=config, password="replica-pw") as a,
            tidegate_server(tmp_path / "b", env=env, config=config, password="replica-pw") as b,
        ):
            since = upstream.mark()
            servers = [a, b] * 10

            def get(job: tuple[int, str]) -> bytes:
                with servers[job[0]].client() as c:
                    r = c.get(job[1], headers=ACCEPT)
                    assert r.status_code == 200, r.text
                    return r.content

            manifest = "/v2/hub/team/replicated/manifests/1"
            blob = f"/v2/hub/team/replicated/blobs/{image.layer_digest}"
            with ThreadPoolExecutor(20) as pool:
                manifests = list(pool.map(get, [(i, manifest) for i in range(20)]))
                blobs = list(pool.map(get, [(i, blob) for i in range(20)]))
            assert manifests == [image.manifest] * 20
            assert all(b == layer for b in blobs)
            requests = upstream.describe_requests(since)
            manifest_path = "/v2/team/replicated/manifests/1"
            assert upstream.count("GET", manifest_path, status=200, since=since) == 1, requests
            blob_path = f"/v2/team/replicated/blobs/{re.escape(image.layer_digest)}"
            assert upstream.count("GET", blob_path, status=200, since=since) == 1, requests


def test_the_first_upstream_requests_at_once_all_authenticate(tmp_path: Path) -> None:
    """A fresh process's first upstream requests all meet the Basic challenge together (a
    proxy that answers everything a second late makes them overlap): each retries with the
    credentials, none is taken for a refusal (or remembered as missing)."""
    with distribution_upstream(tmp_path / "upstream") as upstream:
        images = [
            seed_image(upstream, tmp_path, f"team/first{i}:1", os.urandom(1000 + i))
            for i in range(3)
        ]
        proxy = FaultProxy(upstream.url)
        proxy.mode, proxy.delay = "slow", 1.0
        config = remote_config(tmp_path / "tidegate.yaml", upstream, proxy.url)
        try:
            with tidegate_server(tmp_path / "data", config=config) as server:
                paths = [
                    f"/v2/hub/team/first{i}/blobs/{d}"
                    for i, image in enumerate(images)
                    for d in (image.config_digest, image.layer_digest)
                ]

                def head(path: str) -> int:
                    with server.client() as c:
                        return c.head(path).status_code

                with ThreadPoolExecutor(len(paths)) as pool:
                    assert list(pool.map(head, paths)) == [200] * len(paths)
        finally:
            proxy.stop()

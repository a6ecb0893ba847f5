"""Remote repositories (pull-through cache) against a real upstream: Debian's docker-registry
(CNCF distribution 2.8) with Basic auth, seeded with skopeo, counted from its access log; a
fault-injecting loopback proxy in front of it (429, slow, truncated and corrupt bodies); and a
second Tidegate as a token-auth upstream. docs/remote-virtual.md "Remote" is the contract."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e import _oci as oci
from tests.integration.conftest import error_code
from tests.support.server import RunningServer, tidegate_server
from tests.support.upstream import Upstream, distribution_upstream, seed, tidegate_upstream

ACCEPT = {"Accept": oci.MANIFEST_ACCEPT}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    manifest: bytes
    digest: str
    config: bytes
    layer: bytes

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def layer_digest(self) -> str:
        return sha256(self.layer)


def write_image(layout: Path, ref: str, layer: bytes, arch: str = "amd64") -> Image:
    oci.init_layout(layout)
    config = oci.canon(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
        }
    )
    manifest = oci.canon(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST_MT,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": oci.write_blob(layout, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": oci.write_blob(layout, layer),
                    "size": len(layer),
                }
            ],
        }
    )
    digest = oci.write_blob(layout, manifest)
    oci.tag(layout, ref, {"mediaType": oci.MANIFEST_MT, "digest": digest, "size": len(manifest)})
    return Image(manifest, digest, config, layer)


def seed_image(upstream: Upstream, work: Path, name_tag: str, layer: bytes) -> Image:
    layout = work / f"layout-{hashlib.sha1(name_tag.encode() + layer[:64]).hexdigest()[:10]}"
    image = write_image(layout, "x", layer)
    seed(upstream, f"oci:{layout}:x", name_tag)
    return image


# --- a fault-injecting proxy in front of the upstream: a real HTTP server on loopback --------


class FaultProxy:
    """Forwards to the upstream; ``mode`` changes what it answers: "pass", "429", "slow"
    (answers after ``delay`` seconds), "truncate" (blob bodies cut in half), "corrupt" (blob
    and manifest bodies with one byte changed). Counts requests by (method, path)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.mode = "pass"
        self.delay = 3.0
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.requests.append((self.command, self.path.split("?")[0]))
                mode = proxy.mode
                if mode == "429":
                    self._send(429, {"Retry-After": "30"}, b'{"errors":[]}')
                    return
                if mode == "slow":
                    time.sleep(proxy.delay)
                    if proxy.mode != "slow":
                        # The client gave up long ago and the test that wanted slowness is
                        # over: forwarding now would land in a later test's upstream log.
                        self.close_connection = True
                        return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "accept")
                }
                with httpx.Client(timeout=30) as client:
                    r = client.request(self.command, proxy.target + self.path, headers=headers)
                body = r.content
                is_content = "/blobs/" in self.path or "/manifests/" in self.path
                if mode == "corrupt" and is_content and body and r.status_code == 200:
                    body = bytes([body[0] ^ 0x01]) + body[1:]
                keep = ("content-type", "docker-content-digest", "www-authenticate")
                out = {k: v for k, v in r.headers.items() if k.lower() in keep}
                length = r.headers.get("content-length", str(len(body)))
                if mode == "truncate" and "/blobs/" in self.path and self.command == "GET":
                    self._send(r.status_code, out, body[: len(body) // 2], length, close=True)
                    return
                self._send(r.status_code, out, b"" if self.command == "HEAD" else body, length)

            def _send(
                self,
                status: int,
                headers: dict[str, str],
                body: bytes,
                length: str | None = None,
                close: bool = False,
            ) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", length or str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                if close:
                    self.close_connection = True

            do_GET = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hung up on a cut body: expected here, not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, method: str, fragment: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and fragment in p)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- fixtures ------------------------------------------------------------------------------


@dataclass
class Site:
    upstream: Upstream
    proxy: FaultProxy
    server: RunningServer
    work: Path
    alpine: Image
    app: Image


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("remote")
    with distribution_upstream(work / "upstream") as upstream:
        alpine = seed_image(upstream, work, "library/alpine:3.20", os.urandom(3 << 20))
        app = seed_image(upstream, work, "team/app:1.0", os.urandom(1 << 16))
        proxy = FaultProxy(upstream.url)
        creds = {"upstream_username": upstream.username, "upstream_password": upstream.password}
        repositories = [
            {"key": "dev", "kind": "local"},
            {"key": "hub", "kind": "remote", "upstream": upstream.url, **creds},
            {"key": "fresh", "kind": "remote", "upstream": upstream.url, "tag_ttl": 0, **creds},
            {"key": "frozen", "kind": "remote", "upstream": upstream.url, "offline": True, **creds},
            {
                "key": "flaky",
                "kind": "remote",
                "upstream": proxy.url,
                "tag_ttl": 0,
                "upstream_timeout": 1,
                **creds,
            },
            {
                "key": "nolib",
                "kind": "remote",
                "upstream": upstream.url,
                "library_prefix": False,
                **creds,
            },
        ]
        config = work / "tidegate.yaml"
        config.write_text(yaml.safe_dump({"repositories": repositories}))
        try:
            with tidegate_server(work / "tidegate", config=config) as server:
                yield Site(upstream, proxy, server, work, alpine, app)
        finally:
            proxy.stop()


@pytest.fixture
def client(site: Site) -> Iterator[httpx.Client]:
    with site.server.client() as c:
        yield c


def upstream_requests(site: Site, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in site.upstream.requests(since)]


def pull(client: httpx.Client, name: str, ref: str) -> tuple[httpx.Response, list[bytes]]:
    """GET the manifest, then every blob it references."""
    r = client.get(f"/v2/{name}/manifests/{ref}", headers=ACCEPT)
    assert r.status_code == 200, r.text
    manifest = json.loads(r.content)
    blobs = []
    for desc in [manifest["config"], *manifest["layers"]]:
        b = client.get(f"/v2/{name}/blobs/{desc['digest']}")
        assert b.status_code == 200, b.text
        assert sha256(b.content) == desc["digest"]
        blobs.append(b.content)
    return r, blobs


def metric(site: Site, name: str, **labels: str) -> float:
    text = httpx.get(f"{site.server.url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- the cache -------------------------------------------------------------------------------


def test_cold_pull_caches_and_a_second_pull_asks_nothing_upstream(
    site: Site, client: httpx.Client
) -> None:
    r, blobs = pull(client, "hub/alpine", "3.20")  # one-part name: library/alpine upstream
    assert r.content == site.alpine.manifest
    assert r.headers["docker-content-digest"] == site.alpine.digest
    assert blobs == [site.alpine.config, site.alpine.layer]
    fetched = upstream_requests(site, 0)
    assert f"GET /v2/library/alpine/blobs/{site.alpine.layer_digest}" in fetched
    since = site.upstream.mark()
    r2, blobs2 = pull(client, "hub/alpine", "3.20")
    assert (r2.content, blobs2) == (r.content, blobs)
    assert upstream_requests(site, since) == []
    assert metric(site, "tidegate_remote_cache_hits_total", repository="hub") >= 3


def test_tags_are_listed_from_the_upstream_and_referrers_fall_back_to_the_cache(
    site: Site, client: httpx.Client
) -> None:
    seed_image(site.upstream, site.work, "team/listed:2.0", os.urandom(300))
    image = seed_image(site.upstream, site.work, "team/listed:1.0", os.urandom(300))
    since = site.upstream.mark()
    r = client.get("/v2/hub/team/listed/tags/list")  # nothing cached yet: asked upstream
    assert r.status_code == 200 and r.json()["tags"] == ["1.0", "2.0"]
    assert client.get("/v2/hub/team/listed/tags/list", params={"n": 1}).json()["tags"] == ["1.0"]
    assert "GET /v2/team/listed/tags/list" in upstream_requests(site, since)
    # distribution 2.8 has no referrers API: the cached referrers (none) answer
    r = client.get(f"/v2/hub/team/listed/referrers/{image.digest}")
    assert r.status_code == 200
    assert r.json() == {"schemaVersion": 2, "mediaType": oci.INDEX_MT, "manifests": []}
    unknown = client.get("/v2/hub/team/never-seeded/tags/list")
    assert unknown.status_code == 404 and error_code(unknown) == "NAME_UNKNOWN"


def test_library_prefix_can_be_turned_off(site: Site, client: httpx.Client) -> None:
    r = client.get("/v2/nolib/alpine/manifests/3.20", headers=ACCEPT)
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    r = client.get("/v2/nolib/library/alpine/manifests/3.20", headers=ACCEPT)
    assert r.status_code == 200 and r.content == site.alpine.manifest


def test_digests_are_never_revalidated_and_an_old_tag_costs_one_head(
    site: Site, client: httpx.Client
) -> None:
    name = "fresh/team/app"  # tag_ttl 0: every tag pull revalidates
    assert client.get(f"/v2/{name}/manifests/{site.app.digest}", headers=ACCEPT).status_code == 200
    since = site.upstream.mark()
    by_digest = client.get(f"/v2/{name}/manifests/{site.app.digest}", headers=ACCEPT)
    assert by_digest.content == site.app.manifest
    assert upstream_requests(site, since) == []
    assert client.get(f"/v2/{name}/manifests/1.0", headers=ACCEPT).status_code == 200
    since = site.upstream.mark()
    again = client.get(f"/v2/{name}/manifests/1.0", headers=ACCEPT)
    assert again.content == site.app.manifest
    assert upstream_requests(site, since) == ["HEAD /v2/team/app/manifests/1.0"]


def test_a_tag_moved_upstream_is_followed(site: Site, client: httpx.Client) -> None:
    first = seed_image(site.upstream, site.work, "team/moving:1", os.urandom(4096))
    r = client.get("/v2/fresh/team/moving/manifests/1", headers=ACCEPT)
    assert r.headers["docker-content-digest"] == first.digest
    second = seed_image(site.upstream, site.work, "team/moving:1", os.urandom(4096))
    since = site.upstream.mark()
    r = client.get("/v2/fresh/team/moving/manifests/1", headers=ACCEPT)
    assert r.headers["docker-content-digest"] == second.digest
    assert r.content == second.manifest
    assert upstream_requests(site, since) == [
        "HEAD /v2/team/moving/manifests/1",
        f"GET /v2/team/moving/manifests/{second.digest}",
    ]
    # the tag within its TTL (hub: 300 s) is not asked again, whatever happens upstream
    assert client.get("/v2/hub/team/moving/manifests/1", headers=ACCEPT).status_code == 200
    seed_image(site.upstream, site.work, "team/moving:1", os.urandom(4096))
    since = site.upstream.mark()
    r = client.get("/v2/hub/team/moving/manifests/1", headers=ACCEPT)
    assert r.headers["docker-content-digest"] == second.digest
    assert upstream_requests(site, since) == []


def test_upstream_down_serves_the_cache_and_explains_what_is_not_cached(
    site: Site, client: httpx.Client
) -> None:
    pull(client, "fresh/team/app", "1.0")
    stale_before = metric(site, "tidegate_remote_served_stale_total", repository="fresh")
    site.upstream.stop()
    try:
        r, blobs = pull(client, "fresh/team/app", "1.0")  # TTL 0: a HEAD fails, cache serves
        assert r.content == site.app.manifest
        assert blobs == [site.app.config, site.app.layer]
        after = metric(site, "tidegate_remote_served_stale_total", repository="fresh")
        assert after == stale_before + 1
        tags = client.get("/v2/fresh/team/app/tags/list")
        assert tags.status_code == 200 and tags.json()["tags"] == ["1.0"]
        missing = client.get("/v2/fresh/team/other/manifests/2.0", headers=ACCEPT)
        assert missing.status_code == 502
        assert error_code(missing) == "UPSTREAM_UNAVAILABLE"
        assert "unavailable: cannot connect" in missing.json()["errors"][0]["message"]
        blob = client.get(f"/v2/fresh/team/other/blobs/{sha256(b'nope')}")
        assert blob.status_code == 502 and error_code(blob) == "UPSTREAM_UNAVAILABLE"
    finally:
        site.upstream.start()


def test_rate_limited_and_slow_upstreams_serve_the_cache(site: Site, client: httpx.Client) -> None:
    pull(client, "flaky/team/app", "1.0")
    try:
        for mode, says in (("429", "429 Too Many Requests"), ("slow", "no answer within 1 s")):
            site.proxy.mode = mode
            r, _ = pull(client, "flaky/team/app", "1.0")
            assert r.content == site.app.manifest
            missing = client.get("/v2/flaky/library/alpine/manifests/3.20", headers=ACCEPT)
            assert missing.status_code == 502, missing.text
            assert says in missing.json()["errors"][0]["message"]
    finally:
        site.proxy.mode = "pass"
    assert metric(site, "tidegate_remote_served_stale_total", repository="flaky") >= 2


@pytest.mark.parametrize("mode", ["truncate", "corrupt"])
def test_short_or_corrupt_blobs_are_never_kept(site: Site, client: httpx.Client, mode: str) -> None:
    layer = os.urandom(1 << 20)
    image = seed_image(site.upstream, site.work, f"team/{mode}:1", layer)
    name = f"flaky/team/{mode}"
    url = f"/v2/{name}/blobs/{image.layer_digest}"
    site.proxy.mode = mode
    try:
        try:
            got = client.get(url)
            assert got.status_code != 200 or sha256(got.content) != image.layer_digest
        except httpx.TransportError:
            pass  # the response was cut short: what a client sees of a failed fetch
    finally:
        site.proxy.mode = "pass"
    before = site.proxy.count("GET", f"/blobs/{image.layer_digest}")
    good = client.get(url)
    assert good.status_code == 200 and good.content == layer
    assert site.proxy.count("GET", f"/blobs/{image.layer_digest}") == before + 1


def test_a_small_corrupt_blob_is_answered_502_and_not_kept(
    site: Site, client: httpx.Client
) -> None:
    image = seed_image(site.upstream, site.work, "team/smallbad:1", os.urandom(64 << 10))
    url = f"/v2/flaky/team/smallbad/blobs/{image.layer_digest}"
    site.proxy.mode = "corrupt"
    try:
        r = client.get(url)
    finally:
        site.proxy.mode = "pass"
    assert r.status_code == 502 and error_code(r) == "UPSTREAM_UNAVAILABLE", r.text
    assert "nothing was kept" in r.json()["errors"][0]["message"]
    assert "Traceback" not in site.server.log()
    good = client.get(url)
    assert good.status_code == 200 and good.content == image.layer


def test_a_manifest_with_the_wrong_digest_is_not_kept(site: Site, client: httpx.Client) -> None:
    image = seed_image(site.upstream, site.work, "team/wrong:1", os.urandom(512))
    url = f"/v2/flaky/team/wrong/manifests/{image.digest}"
    site.proxy.mode = "corrupt"
    try:
        r = client.get(url, headers=ACCEPT)
    finally:
        site.proxy.mode = "pass"
    assert r.status_code == 502 and "not kept" in r.json()["errors"][0]["message"]
    r = client.get(url, headers=ACCEPT)
    assert r.status_code == 200 and r.content == image.manifest


def test_unknown_names_are_remembered(site: Site, client: httpx.Client) -> None:
    url = "/v2/hub/team/nothing-here/manifests/1.0"
    r = client.get(url, headers=ACCEPT)
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    since = site.upstream.mark()
    r = client.get(url, headers=ACCEPT)
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert "remembered" in r.json()["errors"][0]["message"]
    assert upstream_requests(site, since) == []


def test_offline_never_asks_upstream(site: Site, client: httpx.Client) -> None:
    since = site.upstream.mark()
    r = client.get("/v2/frozen/alpine/manifests/3.20", headers=ACCEPT)
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert "offline" in r.json()["errors"][0]["message"]
    b = client.get(f"/v2/frozen/alpine/blobs/{site.alpine.layer_digest}")
    assert b.status_code == 404 and error_code(b) == "BLOB_UNKNOWN"
    assert client.get("/v2/frozen/alpine/tags/list").status_code == 404
    assert upstream_requests(site, since) == []


def test_writes_are_refused_unsupported(site: Site, client: httpx.Client) -> None:
    for r in (
        client.post("/v2/hub/team/app/blobs/uploads/"),
        client.put("/v2/hub/team/app/manifests/2.0", content=site.app.manifest),
        client.delete(f"/v2/hub/team/app/manifests/{site.app.digest}"),
    ):
        assert r.status_code == 405 and error_code(r) == "UNSUPPORTED", r.text
    assert "remote repository" in r.json()["errors"][0]["message"]


def test_head_of_an_uncached_blob_asks_upstream_without_downloading(
    site: Site, client: httpx.Client
) -> None:
    since = site.upstream.mark()
    r = client.head(f"/v2/hub/team/app/blobs/{site.app.layer_digest}")
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(site.app.layer))
    assert r.headers["docker-content-digest"] == site.app.layer_digest
    assert upstream_requests(site, since) == [f"HEAD /v2/team/app/blobs/{site.app.layer_digest}"]


def test_an_index_pull_fetches_only_the_children_asked_for(
    site: Site, client: httpx.Client
) -> None:
    amd = write_image(site.work / "multi-amd64", "a", os.urandom(2048), "amd64")
    arm = write_image(site.work / "multi-arm64", "a", os.urandom(2048), "arm64")
    layout = site.work / "multi"
    index = oci.write_index(
        layout, "m", [(site.work / "multi-amd64", "a"), (site.work / "multi-arm64", "a")], {}
    )
    seed(site.upstream, f"oci:{layout}:m", "team/multi:1")
    since = site.upstream.mark()
    r = client.get("/v2/hub/team/multi/manifests/1", headers=ACCEPT)
    assert r.headers["docker-content-digest"] == index["digest"]
    child = client.get(f"/v2/hub/team/multi/manifests/{amd.digest}", headers=ACCEPT)
    assert child.content == amd.manifest
    fetched = [p for p in upstream_requests(site, since) if "/manifests/" in p]
    assert fetched == [
        "GET /v2/team/multi/manifests/1",
        f"GET /v2/team/multi/manifests/{amd.digest}",
    ]
    assert f"GET /v2/team/multi/manifests/{arm.digest}" not in upstream_requests(site, since)


def test_twenty_concurrent_cold_pulls_fetch_once(site: Site) -> None:
    layer = os.urandom(8 << 20)
    image = seed_image(site.upstream, site.work, "team/popular:1", layer)
    since = site.upstream.mark()

    def get(path: str) -> bytes:
        with site.server.client() as c:
            r = c.get(path, headers=ACCEPT)
            assert r.status_code == 200, r.text
            return r.content

    with ThreadPoolExecutor(20) as pool:
        manifests = list(pool.map(get, ["/v2/hub/team/popular/manifests/1"] * 20))
        blobs = list(pool.map(get, [f"/v2/hub/team/popular/blobs/{image.layer_digest}"] * 20))
    assert manifests == [image.manifest] * 20
    assert all(b == layer for b in blobs)
    # answered 200: the first upstream request of a process may meet the Basic challenge
    manifest_path = "/v2/team/popular/manifests/1"
    assert site.upstream.count("GET", manifest_path, status=200, since=since) == 1
    blob_path = f"/v2/team/popular/blobs/{re.escape(image.layer_digest)}"
    assert site.upstream.count("GET", blob_path, status=200, since=since) == 1


# --- secrets and permissions ------------------------------------------------------------------


def test_credentials_never_appear_in_logs_or_answers(site: Site, client: httpx.Client) -> None:
    pull(client, "hub/team/app", "1.0")
    secret = site.upstream.password
    assert secret not in site.server.log()
    listing = client.get("/api/v1/repositories")
    assert listing.status_code == 200
    assert secret not in listing.text
    hub = client.get("/api/v1/repositories/hub").json()
    assert "upstream_password" not in hub["options"]
    assert hub["options"]["upstream_username"] == site.upstream.username


def test_wrong_upstream_credentials_are_an_outage_not_a_missing_image(
    site: Site, client: httpx.Client
) -> None:
    """A wrong password must not drop cached tags nor be remembered as "missing": the cache keeps
    serving, uncached names get 502 naming the credentials, and fixing the password works at once
    (also when it is changed twice within a second)."""
    creds = {"upstream_username": site.upstream.username}
    r = client.post(
        "/api/v1/repositories",
        json={
            "key": "creds",
            "kind": "remote",
            "upstream": site.upstream.url,
            "tag_ttl": 0,
            **creds,
            "upstream_password": site.upstream.password,
        },
    )
    assert r.status_code == 201, r.text
    pull(client, "creds/team/app", "1.0")  # cached with the right password
    for wrong in ("wrong-1", "wrong-2"):  # two changes in the same second: the last one counts
        r = client.patch("/api/v1/repositories/creds", json={"upstream_password": wrong})
        assert r.status_code == 200, r.text
    stale = client.get("/v2/creds/team/app/manifests/1.0", headers=ACCEPT)
    assert stale.status_code == 200 and stale.content == site.app.manifest
    r = client.get("/v2/creds/alpine/manifests/3.20", headers=ACCEPT)
    assert r.status_code == 502 and error_code(r) == "UPSTREAM_UNAVAILABLE", r.text
    assert "refused our credentials" in r.json()["errors"][0]["message"]
    r = client.patch(
        "/api/v1/repositories/creds", json={"upstream_password": site.upstream.password}
    )
    assert r.status_code == 200, r.text
    set_at = r.json()["options"]["upstream_password_set_at"]
    assert (
        client.get("/api/v1/repositories/creds").json()["options"]["upstream_password_set_at"]
        == set_at
    )  # the answer shows the stamp of this change, not the previous one
    r = client.get("/v2/creds/alpine/manifests/3.20", headers=ACCEPT)
    assert r.status_code == 200 and r.content == site.alpine.manifest


def test_negative_cache_is_forgotten_when_the_upstream_settings_change(
    site: Site, client: httpx.Client
) -> None:
    r = client.post(
        "/api/v1/repositories",
        json={
            "key": "moving",
            "kind": "remote",
            "upstream": site.upstream.url,
            "upstream_username": site.upstream.username,
            "upstream_password": site.upstream.password,
            "negative_ttl": 3600,
        },
    )
    assert r.status_code == 201, r.text
    url = "/v2/moving/team/later/manifests/1"
    missing = client.get(url, headers=ACCEPT)
    assert missing.status_code == 404 and error_code(missing) == "MANIFEST_UNKNOWN"
    assert "team/later:1" in missing.json()["errors"][0]["message"]  # names the tag
    image = seed_image(site.upstream, site.work, "team/later:1", os.urandom(512))
    remembered = client.get(url, headers=ACCEPT)
    assert remembered.status_code == 404  # the negative cache answers for an hour ...
    r = client.patch("/api/v1/repositories/moving", json={"tag_ttl": 10})
    assert r.status_code == 200, r.text
    r = client.get(url, headers=ACCEPT)  # ... unless the settings change
    assert r.status_code == 200 and r.content == image.manifest


@pytest.mark.parametrize(
    ("upstream", "words"),
    [
        ("http://alice:s3cret-pw@127.0.0.1:5999", "must not contain credentials"),
        ("http://127.0.0.1:5999/v2/library", "without a path"),
        ("http://127.0.0.1:5999?x=1", "without a path, query or fragment"),
        ("ftp://127.0.0.1:5999", "http(s)://HOST[:PORT]"),
        ("http://127.0.0.1:notaport", "not a valid URL"),
    ],
)
def test_upstream_urls_are_host_and_port_only(
    client: httpx.Client, upstream: str, words: str
) -> None:
    r = client.post(
        "/api/v1/repositories", json={"key": "badurl", "kind": "remote", "upstream": upstream}
    )
    assert r.status_code == 400, r.text
    assert words in r.json()["message"]
    assert "s3cret-pw" not in r.text
    r = client.patch("/api/v1/repositories/hub", json={"upstream": upstream})
    assert r.status_code == 400 and words in r.json()["message"]
    assert client.get("/api/v1/repositories/badurl").status_code == 404


def test_upstream_timeout_is_an_option_of_remotes(client: httpx.Client) -> None:
    r = client.patch("/api/v1/repositories/fresh", json={"upstream_timeout": 12.5})
    assert r.status_code == 200 and r.json()["options"]["upstream_timeout"] == 12.5
    r = client.patch("/api/v1/repositories/fresh", json={"upstream_timeout": 0})
    assert r.status_code == 400 and "upstream_timeout" in r.json()["message"]
    r = client.patch("/api/v1/repositories/dev", json={"upstream_timeout": 5})
    assert r.status_code == 400 and "not an option of a local repository" in r.json()["message"]


def test_a_caller_without_read_on_the_remote_gets_nothing(site: Site, client: httpx.Client) -> None:
    r = client.post(
        "/api/v1/users", json={"username": "outsider", "password": "outsider-pw-1", "groups": []}
    )
    assert r.status_code == 201, r.text
    since = site.upstream.mark()
    with httpx.Client(base_url=site.server.url, auth=("outsider", "outsider-pw-1")) as c:
        r = c.get("/v2/hub/team/app/manifests/1.0", headers=ACCEPT)
        assert r.status_code in (401, 403)
        b = c.get(f"/v2/hub/team/app/blobs/{site.app.layer_digest}")
        assert b.status_code in (401, 403)
    assert upstream_requests(site, since) == []


def test_token_auth_upstream_a_second_tidegate(tmp_path: Path) -> None:
    with tidegate_upstream(tmp_path / "up") as up:
        layout = tmp_path / "layout"
        image = write_image(layout, "x", os.urandom(10_000))
        seed(up, f"oci:{layout}:x", "dev/shop/cart:1.4.0")
        config = tmp_path / "tidegate.yaml"
        remote = {
            "key": "tg",
            "kind": "remote",
            "upstream": up.url,
            "upstream_username": up.username,
            "upstream_password": up.password,
        }
        config.write_text(yaml.safe_dump({"repositories": [remote]}))
        with tidegate_server(tmp_path / "data", config=config) as server, server.client() as c:
            r, blobs = pull(c, "tg/dev/shop/cart", "1.4.0")
            assert r.content == image.manifest
            assert blobs == [image.config, image.layer]
            assert up.password not in server.log()
            tokens = metric_of(server, "tidegate_upstream_requests_total", kind="token")
            assert tokens >= 1  # the Docker token flow, not Basic on every request


def metric_of(server: RunningServer, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    )

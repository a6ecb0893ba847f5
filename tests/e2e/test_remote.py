"""Remote repositories (pull-through cache) end to end: PRODUCT.md §10 scenario 9 with real
clients and a real upstream registry process.

Every test starts its own upstream on loopback (tests/support/upstream.py: Debian's
docker-registry with Basic auth or behind its token auth, or a second Tidegate), seeds it with
real images through skopeo, and its own Tidegate whose config makes ``hub`` a remote of that
upstream (plus ``dev`` and the virtual ``docker`` of PRODUCT.md §3). Clients pull through
Tidegate: skopeo, podman and containerd's ctr, and, for the concurrency case, 20 raw HTTP clients
doing what a client does (token, manifest, blobs). The upstream's access log is the witness of
what Tidegate fetched: one combined-log line per request.

Scenario 9: ``HOST/hub/library/alpine:3.20`` (and through the virtual, ``HOST/docker/...`` and
``HOST/alpine:3.20``) is fetched from the upstream once, cached, and still served when the
upstream is down. ``alpine:3.20`` here is the corpus's multi-arch index (linux/amd64 and
linux/arm64), like the real one: clients pull one platform, so only that platform's manifest
and blobs may be fetched upstream.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import random
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.server import RunningServer, tidegate_server
from tests.support.upstream import Upstream, distribution_upstream, seed, tidegate_upstream

from ._clients import ContainersEnv, Ctr, Podman, Skopeo, empty_authfile, write_containers_config
from ._cmd import CommandFailed
from ._images import Corpus, Image
from ._oci import (
    INDEX_MT,
    MANIFEST_ACCEPT,
    MANIFEST_MT,
    canon,
    init_layout,
    resolve,
    sha256_digest,
    tag,
    write_blob,
)
from ._servers import containerd_daemon

pytestmark = pytest.mark.e2e

ALPINE = "library/alpine"
ALPINE_TAG = "3.20"
REMOTE = "hub"
CONCURRENT = 20
SMALL_LAYER_FILES = [
    "/etc/os-release", "/etc/debian_version", "/etc/hostname", "/etc/passwd", "/etc/group",
    "/etc/shells", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/login.defs", "/etc/adduser.conf",
]  # fmt: skip
SHORT_TTL = 1  # seconds: the stale-if-error cases need the cached tag to be past its TTL
_PARAM = re.compile(r'(\w+)="([^"]*)"')
_METRIC = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


# ---------------------------------------------------------------------- Tidegate with a remote
def remote_config(
    upstream: Upstream,
    *,
    tag_ttl: int = 300,
    workers: int = 1,
    library_prefix: bool = True,
) -> dict[str, object]:
    """The config contract of issue 5: dev (local), hub (remote of `upstream`), docker (virtual
    dev + hub, the default_repository)."""
    return {
        "workers": workers,
        "repositories": [
            {"key": "dev", "kind": "local", "stage": "dev"},
            {
                "key": REMOTE,
                "kind": "remote",
                "upstream": upstream.url,
                "upstream_username": upstream.username,
                "upstream_password": upstream.password,
                "library_prefix": library_prefix,
                "tag_ttl": tag_ttl,
                "offline": False,
            },
            {
                "key": "docker",
                "kind": "virtual",
                "members": ["dev", REMOTE],
                "default_deploy": "dev",
            },
        ],
        "permission_targets": [],
    }


@dataclass
class Proxy:
    """A Tidegate whose `hub` proxies `upstream`, and the clients that pull through it."""

    server: RunningServer
    upstream: Upstream
    cenv: ContainersEnv
    authfile: Path
    work: Path
    cleanup: contextlib.ExitStack = field(repr=False)  # closed when the site stops

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def skopeo(self) -> Skopeo:
        return Skopeo(self.cenv, self.authfile)

    def podman(self) -> Podman:
        """podman with a fresh, empty image store."""
        rundir = Path(tempfile.mkdtemp(prefix="tg-pm-", dir="/tmp"))
        self.cleanup.callback(shutil.rmtree, rundir, ignore_errors=True)
        workdir = Path(tempfile.mkdtemp(prefix="podman-", dir=self.work))
        return Podman(self.cenv, workdir, rundir)

    @contextlib.contextmanager
    def fresh_ctr(self) -> Iterator[Ctr]:
        """ctr on a containerd started now (stopped at the block's end): nothing cached."""
        sockdir = Path(tempfile.mkdtemp(prefix="tg-cd-", dir="/tmp"))
        try:
            with containerd_daemon(sockdir) as sock:
                yield Ctr(sock, namespace="remote")
        finally:
            shutil.rmtree(sockdir, ignore_errors=True)

    def ctr_pull(self, ctr: Ctr, ref: str) -> None:
        creds = f"{self.server.username}:{self.server.password}"
        ctr("images", "pull", "--plain-http", "--user", creds, "--snapshotter", "native", ref)

    def podman_pull(self, podman: Podman, ref: str) -> tuple[str, str]:
        """Pull `ref`; the image's (manifest digest, config digest) as podman records them."""
        podman("pull", "--tls-verify=false", "--authfile", self.authfile, ref)
        fmt = "{{.Digest}} {{.Id}}"
        digest, image_id = podman("image", "inspect", "--format", fmt, ref).stdout.split()
        return digest, "sha256:" + image_id

    def skopeo_copy(self, ref: str) -> Path:
        """`skopeo copy` of `ref` (this machine's platform) into a new OCI layout."""
        layout = Path(tempfile.mkdtemp(prefix="skopeo-", dir=self.work)) / "oci"
        self.skopeo.copy(f"docker://{ref}", f"oci:{layout}:pulled")
        return layout

    def metrics(self) -> str:
        r = httpx.get(f"{self.server.url}/metrics", timeout=10)
        if r.status_code in (401, 403):
            r = httpx.get(f"{self.server.url}/metrics", auth=self.server.auth, timeout=10)
        assert r.status_code == 200, f"GET /metrics: {r.status_code} {r.text[:300]}"
        return r.text


@contextlib.contextmanager
def proxy_site(work: Path, upstream: Upstream, **config: object) -> Iterator[Proxy]:
    """A Tidegate configured by `remote_config(upstream, **config)`, logged in with skopeo."""
    cfg = work / "tidegate.yaml"
    cfg.write_text(yaml.safe_dump(remote_config(upstream, **config), sort_keys=False))  # type: ignore[arg-type]
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(tidegate_server(work / "tidegate", config=cfg))
        registries, policy = write_containers_config(work / "containers", server.host)
        (work / "containers" / "tmp").mkdir()
        cenv = ContainersEnv(registries, policy, work / "containers" / "tmp")
        authfile = empty_authfile(work / "auth" / "auth.json")
        Skopeo(cenv, authfile).login(server.host, server.username, server.password, authfile)
        cleanup = stack.enter_context(contextlib.ExitStack())
        yield Proxy(server, upstream, cenv, authfile, work, cleanup)


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (Prometheus text format)."""
    total = 0.0
    for line in text.splitlines():
        m = _METRIC.match(line)
        if not m or m["name"] != name:
            continue
        have = dict(_PARAM.findall(m["labels"] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m["value"])
    return total


# ---------------------------------------------------------------------- upstream counting
def fetches(upstream: Upstream, name: str, kind: str, ref: str, since: int) -> int:
    """Successful upstream GETs of one manifest (by tag or digest) or blob of `name`."""
    return upstream.count("GET", rf"/v2/{name}/{kind}/{re.escape(ref)}", status=200, since=since)


def manifest_fetches(upstream: Upstream, name: str, refs: list[str], since: int) -> int:
    alt = "|".join(re.escape(r) for r in refs)
    return upstream.count("GET", rf"/v2/{name}/manifests/({alt})", status=200, since=since)


def assert_fetched_once(
    upstream: Upstream, name: str, tag_: str, image: Image, since: int, index: Image | None = None
) -> None:
    """Every manifest and blob a one-platform pull of `name:tag_` needs was fetched upstream
    exactly once (the tag and its digest are one manifest), and nothing else."""
    log = upstream.describe_requests(since)
    top = index or image
    got = manifest_fetches(upstream, name, [tag_, top.digest], since)
    assert got == 1, f"{name}:{tag_} fetched {got} times upstream\n{log}"
    if index is not None:
        got = fetches(upstream, name, "manifests", image.digest, since)
        assert got == 1, f"platform manifest {image.digest} fetched {got} times\n{log}"
    for digest in [image.config_digest, *image.layers]:
        got = fetches(upstream, name, "blobs", digest, since)
        assert got == 1, f"blob {digest} fetched {got} times upstream\n{log}"


def assert_index_pulled(proxy: Proxy, ref: str, corpus: Corpus, ctr: Ctr) -> None:
    """skopeo (byte-exact manifest + copy), podman and ctr pull `ref` (alpine = corpus.multi)."""
    assert proxy.skopeo.inspect_raw(f"docker://{ref}") == corpus.multi.raw
    layout = proxy.skopeo_copy(ref)
    assert resolve(layout, "pulled")["digest"] == corpus.amd64.digest
    podman = proxy.podman()
    digest, config = proxy.podman_pull(podman, ref)
    assert (digest, config) == (corpus.multi.digest, corpus.amd64.config_digest)
    proxy.ctr_pull(ctr, ref)
    assert ctr.image_digest(ref) == corpus.multi.digest


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def work() -> Iterator[Path]:
    """A short private directory (unix sockets of containerd and podman live below it)."""
    path = Path(tempfile.mkdtemp(prefix="tg-rm-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def basic_upstream(work: Path, corpus: Corpus) -> Iterator[Upstream]:
    """docker-registry with Basic auth, holding alpine:3.20 (the corpus's multi-arch index)."""
    with distribution_upstream(work / "upstream", "basic") as up:
        seed(up, corpus.oci("multi"), f"{ALPINE}:{ALPINE_TAG}")
        yield up


# ---------------------------------------------------------------------- scenario 9
def test_scenario_9_pulled_once_then_served_while_the_upstream_is_down(
    work: Path, basic_upstream: Upstream, corpus: Corpus
) -> None:
    up = basic_upstream
    with proxy_site(work, up, tag_ttl=SHORT_TTL) as proxy:
        ref = f"{proxy.host}/{REMOTE}/{ALPINE}:{ALPINE_TAG}"
        since = up.mark()
        with proxy.fresh_ctr() as ctr:
            assert_index_pulled(proxy, ref, corpus, ctr)
        # one upstream GET per manifest and blob, whatever the clients asked for; the arm64
        # platform was never asked for, so never fetched
        assert_fetched_once(up, ALPINE, ALPINE_TAG, corpus.amd64, since, index=corpus.multi)
        for digest in [corpus.arm64.digest, corpus.arm64.config_digest, *corpus.arm64.layers]:
            kind = "manifests" if digest == corpus.arm64.digest else "blobs"
            assert fetches(up, ALPINE, kind, digest, since) == 0, up.describe_requests(since)
        before = proxy.metrics()
        assert metric(before, "tidegate_upstream_requests_total", repository=REMOTE) > 0, before
        assert metric(before, "tidegate_remote_cache_hits_total", repository=REMOTE) > 0, before

        up.stop()
        time.sleep(SHORT_TTL + 0.5)  # past the tag's TTL: the next pull must try the upstream
        with proxy.fresh_ctr() as ctr:  # fresh client stores: every byte from Tidegate's cache
            assert_index_pulled(proxy, ref, corpus, ctr)
            by_digest = f"{proxy.host}/{REMOTE}/{ALPINE}@{corpus.amd64.digest}"
            assert proxy.skopeo.inspect_raw(f"docker://{by_digest}") == corpus.amd64.raw
        after = proxy.metrics()
        stale = metric(after, "tidegate_remote_served_stale_total", repository=REMOTE)
        assert stale > metric(before, "tidegate_remote_served_stale_total", repository=REMOTE)

        # the upstream comes back with 3.20 moved to another image: once the tag's TTL has
        # passed, one HEAD finds the new digest and the new manifest is fetched and served
        up.start()
        seed(up, corpus.oci("app"), f"{ALPINE}:{ALPINE_TAG}")
        since = up.mark()
        time.sleep(SHORT_TTL + 0.5)
        for client in (proxy.skopeo, proxy.skopeo):  # the second pull must not ask again
            assert client.inspect_raw(f"docker://{ref}") == corpus.app.raw, up.describe_requests(
                since
            )
        time.sleep(0.2)  # distribution logs a request once its response is written
        tag_path = rf"/v2/{ALPINE}/manifests/{ALPINE_TAG}"
        assert up.count("HEAD", tag_path, since=since, status=200) >= 1, up.describe_requests(since)
        assert manifest_fetches(up, ALPINE, [ALPINE_TAG, corpus.app.digest], since) == 1, (
            up.describe_requests(since)
        )


def test_pushes_to_the_remote_are_refused(
    work: Path, basic_upstream: Upstream, corpus: Corpus
) -> None:
    """skopeo cannot push through ``hub``: the remote refuses with UNSUPPORTED, and nothing
    reaches the upstream."""
    with proxy_site(work, basic_upstream) as proxy:
        since = basic_upstream.mark()
        with pytest.raises(CommandFailed) as refused:
            proxy.skopeo.copy(corpus.oci("base"), f"docker://{proxy.host}/{REMOTE}/e2e/pushed:1")
        assert re.search(r"unsupported", str(refused.value), re.IGNORECASE), str(refused.value)
        written = [
            r for r in basic_upstream.requests(since) if r.method in ("POST", "PUT", "PATCH")
        ]
        assert written == [], basic_upstream.describe_requests(since)


def test_token_auth_upstream(work: Path, corpus: Corpus) -> None:
    """The upstream is behind its token service (as Docker Hub is): Tidegate trades its
    credentials for tokens, fetches once, and serves the cache when the upstream is down."""
    with distribution_upstream(work / "upstream", "token") as up:
        assert up.token_server is not None
        seed(up, corpus.oci("app"), "library/app:1")
        seeded_tokens = up.token_server.issued
        with proxy_site(work, up, tag_ttl=SHORT_TTL) as proxy:
            ref = f"{proxy.host}/{REMOTE}/library/app:1"
            since = up.mark()
            assert proxy.skopeo.inspect_raw(f"docker://{ref}") == corpus.app.raw
            with proxy.fresh_ctr() as ctr:
                proxy.ctr_pull(ctr, ref)
                assert ctr.image_digest(ref) == corpus.app.digest
            podman = proxy.podman()
            assert proxy.podman_pull(podman, ref) == (corpus.app.digest, corpus.app.config_digest)
            assert_fetched_once(up, "library/app", "1", corpus.app, since)
            assert up.token_server.issued > seeded_tokens, "Tidegate never asked for a token"
            assert up.token_server.refused == 0, "Tidegate sent wrong credentials"

            up.stop()
            time.sleep(SHORT_TTL + 0.5)
            assert proxy.skopeo.inspect_raw(f"docker://{ref}") == corpus.app.raw
            layout = proxy.skopeo_copy(ref)
            assert resolve(layout, "pulled")["digest"] == corpus.app.digest


def test_tidegate_as_upstream(work: Path, corpus: Corpus) -> None:
    """A second Tidegate is the upstream (its own token service); two-part names pass through
    unchanged (no library/ prefix)."""
    with tidegate_upstream(work / "upstream") as up:
        seed(up, corpus.oci("base"), "dev/e2e/base:1")
        with proxy_site(work, up, tag_ttl=SHORT_TTL, library_prefix=False) as proxy:
            ref = f"{proxy.host}/{REMOTE}/dev/e2e/base:1"
            assert proxy.skopeo.inspect_raw(f"docker://{ref}") == corpus.base.raw
            podman = proxy.podman()
            assert proxy.podman_pull(podman, ref) == (
                corpus.base.digest,
                corpus.base.config_digest,
            )
            up.stop()
            time.sleep(SHORT_TTL + 0.5)
            assert proxy.skopeo.inspect_raw(f"docker://{ref}") == corpus.base.raw
            layout = proxy.skopeo_copy(ref)
            assert resolve(layout, "pulled")["digest"] == corpus.base.digest


# ---------------------------------------------------------------------- through the virtual
def test_scenario_9_through_the_virtual_and_one_part_names(
    work: Path, basic_upstream: Upstream, corpus: Corpus
) -> None:
    """``HOST/docker/library/alpine:3.20`` and ``HOST/alpine:3.20`` (default_repository docker
    -> hub -> upstream library/alpine) pull the same bytes, fetched from the upstream once."""
    up = basic_upstream
    with proxy_site(work, up) as proxy:
        since = up.mark()
        through_virtual = f"{proxy.host}/docker/{ALPINE}:{ALPINE_TAG}"
        one_part = f"{proxy.host}/alpine:{ALPINE_TAG}"
        assert proxy.skopeo.inspect_raw(f"docker://{through_virtual}") == corpus.multi.raw
        assert proxy.skopeo.inspect_raw(f"docker://{one_part}") == corpus.multi.raw
        podman = proxy.podman()
        assert proxy.podman_pull(podman, one_part) == (
            corpus.multi.digest,
            corpus.amd64.config_digest,
        )
        with proxy.fresh_ctr() as ctr:
            proxy.ctr_pull(ctr, through_virtual)
            assert ctr.image_digest(through_virtual) == corpus.multi.digest
        assert_fetched_once(up, ALPINE, ALPINE_TAG, corpus.amd64, since, index=corpus.multi)

        up.stop()  # digests are never revalidated; the tag is within its TTL
        podman = proxy.podman()
        assert proxy.podman_pull(podman, one_part)[0] == corpus.multi.digest


# ---------------------------------------------------------------------- 20 concurrent cold pulls
def _layer_of_real_files(min_size: int) -> bytes:
    """An uncompressed tar of real files of this machine (/usr/bin), at least `min_size`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(Path("/usr/bin").iterdir()):
            if path.is_file() and not path.is_symlink():
                tar.add(path, f"usr/bin/{path.name}")
                if buf.tell() >= min_size:
                    break
    return buf.getvalue()


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Image]:
    """An OCI layout (ref `big`): one ~24 MiB layer of /usr/bin (20 clients asking at once
    overlap with its upstream fetch) and a small layer for each of a few files of /etc."""
    layout = tmp_path_factory.mktemp("big") / "oci"
    init_layout(layout)
    layers = [_layer_of_real_files(24 << 20)]
    # small blobs are fetched in milliseconds: a fetch that ends while another server process
    # is still deciding whether to fetch shows up as a second upstream GET
    for path in [f for f in SMALL_LAYER_FILES if Path(f).is_file()]:
        small = io.BytesIO()
        with tarfile.open(fileobj=small, mode="w") as tar:
            tar.add(path, path.lstrip("/"))
        layers.append(small.getvalue())
    descs = [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": write_blob(layout, d),
         "size": len(d)}
        for d in layers
    ]  # fmt: skip
    config = canon(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]},
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
            "layers": descs,
        }
    )
    digest = write_blob(layout, manifest)
    tag(layout, "big", {"mediaType": MANIFEST_MT, "digest": digest, "size": len(manifest)})
    return layout, Image("big", MANIFEST_MT, digest, len(manifest), manifest)


async def _authorization(
    http: httpx.AsyncClient, base: str, name: str, auth: tuple[str, str]
) -> str:
    """What a client sends after Tidegate's /v2/ challenge: a token (Bearer) or Basic."""
    r = await http.get(f"{base}/v2/")
    challenge = r.headers.get("www-authenticate", "")
    basic = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    if not challenge.lower().startswith("bearer"):
        return basic
    params = dict(_PARAM.findall(challenge))
    query = {"scope": f"repository:{name}:pull"}
    if params.get("service"):
        query["service"] = params["service"]
    t = await http.get(params["realm"], params=query, headers={"Authorization": basic})
    t.raise_for_status()
    body = t.json()
    return "Bearer " + str(body.get("token") or body["access_token"])


async def _blob(http: httpx.AsyncClient, url: str, headers: dict[str, str], digest: str) -> str:
    """GET a blob, streamed and hashed; its digest, checked."""
    h = hashlib.sha256()
    async with http.stream("GET", f"{url}/blobs/{digest}", headers=headers) as b:
        if b.status_code != 200:
            body = (await b.aread())[:500]
            raise AssertionError(f"GET blob {digest}: {b.status_code} {body!r}")
        async for chunk in b.aiter_bytes():
            h.update(chunk)
    got = "sha256:" + h.hexdigest()
    assert got == digest, f"blob {digest} came back as {got}"
    return got


async def _pull(
    http: httpx.AsyncClient,
    base: str,
    name: str,
    ref: str,
    auth: tuple[str, str],
    go: asyncio.Event,
    seed: int,
) -> list[str]:
    """What a client does: /v2/ challenge, token, manifest (an index picks linux/amd64), then
    every blob (each client in its own order), streamed and hashed. The digests verified."""
    header = await _authorization(http, base, name, auth)
    headers = {"Authorization": header, "Accept": MANIFEST_ACCEPT}
    await go.wait()  # every client asks for the manifest at the same moment
    seen: list[str] = []
    m = await http.get(f"{base}/v2/{name}/manifests/{ref}", headers=headers)
    assert m.status_code == 200, f"manifest {name}:{ref}: {m.status_code} {m.text[:300]}"
    doc = m.json()
    if doc.get("mediaType") == INDEX_MT:
        child = next(c for c in doc["manifests"] if c["platform"]["architecture"] == "amd64")
        m = await http.get(f"{base}/v2/{name}/manifests/{child['digest']}", headers=headers)
        assert m.status_code == 200, m.text[:300]
        doc = m.json()
    seen.append(sha256_digest(m.content))
    blobs = [doc["config"], *doc["layers"]]
    order = random.Random(seed).sample(blobs, len(blobs))  # clients differ in their order
    for desc in order:
        seen.append(await _blob(http, f"{base}/v2/{name}", headers, desc["digest"]))
    return [seen[0], *sorted(seen[1:], key=[d["digest"] for d in blobs].index)]


async def _pull_all(
    base: str, name: str, ref: str, auth: tuple[str, str], n: int
) -> list[list[str]]:
    go = asyncio.Event()
    limits = httpx.Limits(max_connections=n * 2, max_keepalive_connections=n * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        tasks = [asyncio.create_task(_pull(http, base, name, ref, auth, go, i)) for i in range(n)]
        await asyncio.sleep(0.5)  # let every client get its token before the race starts
        go.set()
        return await asyncio.gather(*tasks)


@pytest.mark.parametrize("workers", [1, 2], ids=["1-worker", "2-workers"])
def test_concurrent_cold_pulls_fetch_once(
    work: Path, big_image: tuple[Path, Image], workers: int
) -> None:
    """20 clients pull the same uncached image at once: one upstream GET per manifest and per
    blob, every client gets every byte right. With 2 server worker processes too: single-flight
    is per deployment, not per process (PRODUCT.md §2.2)."""
    layout, image = big_image
    with distribution_upstream(work / "upstream", "basic") as up:
        seed(up, f"oci:{layout}:big", "library/big:1")
        with proxy_site(work, up, workers=workers) as proxy:
            since = up.mark()
            results = asyncio.run(
                _pull_all(
                    proxy.server.url, f"{REMOTE}/library/big", "1", proxy.server.auth, CONCURRENT
                )
            )
            want = [image.digest, image.config_digest, *image.layers]
            assert results == [want] * CONCURRENT
            assert_fetched_once(up, "library/big", "1", image, since)
            text = proxy.metrics()
            assert metric(text, "tidegate_upstream_requests_total", repository=REMOTE) > 0, text


def test_first_upstream_requests_at_once_all_authenticate(
    work: Path, big_image: tuple[Path, Image]
) -> None:
    """A fresh Tidegate's very first upstream requests arrive together (clients that know the
    digests ask for the blobs at once, no manifest first: HEADs, answered from the upstream,
    then GETs): every one is sent with the upstream's Basic credentials and answered; none is
    taken for an unknown blob (nor remembered as one)."""
    layout, image = big_image
    sizes = {d["digest"]: d["size"] for d in [image.manifest["config"], *image.manifest["layers"]]}
    with distribution_upstream(work / "upstream", "basic") as up:
        seed(up, f"oci:{layout}:big", "library/big:1")
        with proxy_site(work, up) as proxy:
            name = f"{REMOTE}/library/big"

            base, url = proxy.server.url, f"{proxy.server.url}/v2/{name}"

            async def heads() -> dict[str, tuple[int, str | None]]:
                async with httpx.AsyncClient(timeout=120) as http:
                    headers = {"Authorization": await _authorization(http, base, name, auth)}
                    answers = await asyncio.gather(
                        *(http.head(f"{url}/blobs/{d}", headers=headers) for d in sizes)
                    )
                    return {
                        d: (r.status_code, r.headers.get("content-length"))
                        for d, r in zip(sizes, answers, strict=True)
                    }

            async def gets() -> list[str]:
                async with httpx.AsyncClient(timeout=120) as http:
                    headers = {"Authorization": await _authorization(http, base, name, auth)}
                    return await asyncio.gather(*(_blob(http, url, headers, d) for d in sizes))

            auth, since = proxy.server.auth, up.mark()
            assert asyncio.run(heads()) == {d: (200, str(n)) for d, n in sizes.items()}, (
                up.describe_requests(since)
            )
            # answered from the upstream's HEAD, without downloading any blob
            time.sleep(0.2)  # distribution logs a request once its response is written
            assert up.count("GET", r"/v2/library/big/blobs/.*", since=since) == 0, (
                up.describe_requests(since)
            )
            assert asyncio.run(gets()) == list(sizes), up.describe_requests(since)

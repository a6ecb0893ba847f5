"""Promotion and search figures (issue 4), Tidegate only: the reference registry has neither.

promotion: one image with a 1 KiB layer and one with a 1 GiB layer are pushed to `dev`, then
promoted dev -> test (copy, a new target tag every time) over N rounds, the two sizes
alternating which goes first; latency of `POST /api/v1/promotions` until its 201, server CPU
per promotion, and the disk the server's data dir grew by over all the promotions (a promotion
copies rows, never bytes, so 1 GiB images must cost what 1 KiB ones do).

search: seeds `items` tagged manifests with properties through the real server (concurrent
manifest PUTs by digest with `?tag=`, `tags` tags per distinct manifest, every manifest sharing
one config and one layer blob per image; then one `PATCH /api/v1/properties` per manifest),
timing the seeding; then times representative `GET /api/v1/search` queries, interleaved:
median and p95 latency and server CPU per query.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from auth import Credentials, basic_header
from content import CONFIG_TYPE, GIB, LAYER_TYPE, MANIFEST_TYPE, BigFile, make_big_file, sha256
from ociclient import Registry
from procstat import cpu_seconds

PROMOTE_SOURCE, PROMOTE_TARGET = "dev", "test"
SEARCH_REPO = "dev"
SEARCH_IMAGES = 100  # dev/search/svc-000 .. svc-099
WORKERS = 8  # concurrent seeding requests


@dataclass
class Options:
    """From the command line (run.py)."""

    promotion_rounds: int = 20
    search_items: int = 100_000
    search_tags: int = 10
    search_reps: int = 20
    search_budget: float = 20.0  # seconds per query, then stop at >= 5 runs
    data_dir: Path | None = None  # the tidegate data dir, when we started the server
    standin: bool = False


@dataclass
class Target:
    """The Tidegate server under test: admin Basic credentials on /v2 and /api/v1."""

    base_url: str
    pid: int | None
    user: str
    password: str
    data_dir: Path | None  # None: a server we did not start (no disk figure)

    def creds(self, repo: str) -> Credentials:
        return Credentials(self.base_url, self.user, self.password, repo, "basic")

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": basic_header(self.user, self.password)},
            timeout=httpx.Timeout(600, connect=10),
        )

    def cpu(self) -> float:
        return cpu_seconds(self.pid) if self.pid else math.nan


@dataclass
class Samples:
    """Latencies (s) and server CPU (s) of single requests."""

    latency: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, seconds: float, cpu: float) -> None:
        self.latency.append(seconds)
        self.cpu.append(cpu)

    def median_ms(self) -> float:
        return statistics.median(self.latency) * 1000

    def p95_ms(self) -> float:
        xs = sorted(self.latency)
        return xs[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)] * 1000

    def cpu_ms(self) -> float:
        """Mean server CPU per request: /proc ticks are 10 ms, so only the mean is meaningful."""
        return sum(self.cpu) / len(self.cpu) * 1000 if self.cpu else math.nan


def _ms(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.1f} ms" if v < 100 else f"{v:,.0f} ms"


def disk_bytes(path: Path) -> int:
    """Allocated bytes under path (st_blocks: what the disk really holds; hard links once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for d, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(Path(d) / name)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _manifest(config: bytes, layer_digest: str, layer_size: int, note: str) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": layer_size}],
        "annotations": {"org.opencontainers.image.description": note},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _config(layer_digest: str) -> bytes:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _expect(r: httpx.Response, status: int, what: str) -> httpx.Response:
    if r.status_code != status:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:300]!r} (expected {status})")
    return r


def _log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


# -- promotion -------------------------------------------------------------------------------


def promotion(target: Target, big: BigFile | None, tmp: Path, rounds: int) -> str:
    """Push both images, promote each `rounds` times; the markdown section."""
    made_here = big is None
    if big is None:
        _log("generating a 1 GiB layer (streamed to disk, hashed in the same pass) ...")
        big = make_big_file(tmp / "promotion-layer-1g", GIB)
    small = os.urandom(1024)
    images = {"1 KiB": ("pipeline/small", small, None), "1 GiB": ("pipeline/big", b"", big)}
    with target.client() as http:
        for label, (image, data, blob) in images.items():
            reg = Registry(target.base_url, f"{PROMOTE_SOURCE}/{image}", target.creds(""))
            try:
                t0 = time.perf_counter()
                if blob is None:
                    digest, size = sha256(data), len(data)
                    reg.push_bytes(data, digest)
                else:
                    digest, size = blob.digest, blob.size
                    reg.upload_monolithic(blob.as_blob())
                config = _config(digest)
                reg.push_bytes(config, sha256(config))
                reg.put_manifest("v1", _manifest(config, digest, size, label), MANIFEST_TYPE)
                _log(
                    f"pushed {PROMOTE_SOURCE}/{image}:v1 ({label}) in "
                    f"{time.perf_counter() - t0:.1f} s"
                )
            finally:
                reg.close()
        if made_here:
            big.path.unlink()  # the server has its own copy now

        def promote(label: str, tag: str) -> dict[str, object]:
            body = {
                "source": PROMOTE_SOURCE,
                "target": PROMOTE_TARGET,
                "image": images[label][0],
                "tag": "v1",
                "target_tag": tag,
                "mode": "copy",
            }
            r = _expect(http.post("/api/v1/promotions", json=body), 201, f"promote {label}")
            record: dict[str, object] = r.json()
            return record

        for label in images:  # warm-up (the management API is built on its first request)
            promote(label, f"warmup-{label.replace(' ', '')}")
        disk0 = disk_bytes(target.data_dir) if target.data_dir else None
        samples = {label: Samples() for label in images}
        counts: dict[str, dict[str, object]] = {}
        for r in range(rounds):
            order = list(images) if r % 2 == 0 else list(reversed(images))
            for label in order:
                c0 = target.cpu()
                t0 = time.perf_counter()
                record = promote(label, f"r{r}-{label.replace(' ', '').lower()}")
                secs = time.perf_counter() - t0
                samples[label].add(secs, target.cpu() - c0)
                counts[label] = {k: record.get(k) for k in ("manifests", "blobs", "referrers")}
            if (r + 1) % 10 == 0 or r + 1 == rounds:
                _log(
                    f"promotion round {r + 1}/{rounds}: "
                    + ", ".join(f"{k} median {s.median_ms():.1f} ms" for k, s in samples.items())
                )
        growth = (
            disk_bytes(target.data_dir) - disk0 if target.data_dir and disk0 is not None else None
        )
        # the promoted 1 GiB image is really there: HEAD its layer in the target
        head = http.head(f"/v2/{PROMOTE_TARGET}/pipeline/big/blobs/{big.digest}")
        if head.status_code != 200 or head.headers.get("content-length") != str(big.size):
            raise RuntimeError(f"promoted 1 GiB layer: HEAD {head.status_code}")
    return promotion_table(samples, counts, rounds, growth)


def promotion_table(
    samples: dict[str, Samples],
    counts: dict[str, dict[str, object]],
    rounds: int,
    growth: int | None,
) -> str:
    s1, sg = samples["1 KiB"], samples["1 GiB"]
    ratio = sg.median_ms() / s1.median_ms()
    out = [
        "## Promotion (Tidegate only)",
        "",
        f"`POST /api/v1/promotions` dev -> test, copy, a new target tag each time; {rounds} "
        "rounds, 1 KiB and 1 GiB alternating which goes first; latency until the 201 (the "
        "client is on the same machine). The reference registry has no promotion: n/a.",
        "",
        "| figure | tidegate | reference | target | met? |",
        "|---|---:|---|---|---|",
    ]
    for label, s in samples.items():
        c = counts.get(label, {})
        out += [
            f"| promotion {label} image: median | {_ms(s.median_ms())} | n/a (no promotion) | | |",
            f"| promotion {label} image: p95 | {_ms(s.p95_ms())} | n/a | | |",
            f"| promotion {label} image: server CPU | {_ms(s.cpu_ms())} | n/a | | |",
            f"| promotion {label} image: closure | {c.get('manifests')} manifest(s), "
            f"{c.get('blobs')} blob(s) | n/a | | |",
        ]
    verdict = "yes" if 0.5 <= ratio <= 1.5 else "NO"
    out.append(
        f"| promotion median, 1 GiB / 1 KiB | {ratio:.2f}x | n/a | same latency (no byte "
        f"copied) | {verdict} |"
    )
    if growth is not None:
        per = growth / (2 * rounds)
        out.append(
            f"| data dir growth over {2 * rounds} promotions | {growth / 1e6:,.2f} MB "
            f"({per / 1e3:,.1f} kB each) | n/a | no bytes copied | "
            f"{'yes' if growth < 0.5 * GIB else 'NO'} |"
        )
    out += [
        "",
        "Rounds (ms): "
        + "; ".join(
            f"{label}: " + " ".join(f"{x * 1000:.0f}" for x in s.latency)
            for label, s in samples.items()
        ),
    ]
    return "\n".join(out)


# -- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchShape:
    items: int  # tagged manifests (search answers one item per tag)
    tags: int  # tags per distinct manifest

    @property
    def manifests(self) -> int:
        return -(-self.items // self.tags)


def _image(j: int) -> str:
    return f"search/svc-{j % SEARCH_IMAGES:03d}"


def _tags(j: int, shape: SearchShape) -> list[str]:
    return [f"v{j}-{k}" for k in range(min(shape.tags, shape.items - j * shape.tags))]


def _props(j: int) -> dict[str, list[str]]:
    return {
        "qa.automated": ["passed" if j % 4 == 0 else "failed"],
        "team": [f"team-{j % 7}"],
        "build": [str(j)],
    }


def _parallel(
    client: Callable[[], httpx.Client], fn: Callable[[httpx.Client, int], None], n: int, what: str
) -> None:
    """fn(client, j) for j in range(n) on WORKERS threads, one keep-alive client per thread."""
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()
    done = [0]
    t0 = time.perf_counter()

    def one(j: int) -> None:
        http: httpx.Client | None = getattr(local, "client", None)
        if http is None:
            http = local.client = client()
            with lock:
                clients.append(http)
        fn(http, j)
        with lock:
            done[0] += 1
            if done[0] % 5000 == 0:
                rate = done[0] / (time.perf_counter() - t0)
                _log(f"{what}: {done[0]:,}/{n:,} ({rate:,.0f}/s)")

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            for f in [pool.submit(one, j) for j in range(n)]:
                f.result()
    finally:
        for c in clients:
            c.close()


def seed_search(target: Target, shape: SearchShape) -> dict[str, float]:
    """Blobs per image, then the manifests (with their tags), then the properties."""
    layer = b"search-layer\n" * 64
    layer_digest = sha256(layer)
    config = _config(layer_digest)
    out: dict[str, float] = {}

    def blobs(http: httpx.Client, i: int) -> None:
        reg = Registry(target.base_url, f"{SEARCH_REPO}/{_image(i)}", target.creds(""))
        reg.http.close()
        reg.http = http
        reg.push_bytes(layer, layer_digest)
        reg.push_bytes(config, sha256(config))

    def manifest(j: int) -> bytes:
        return _manifest(config, layer_digest, len(layer), f"search item {j}")

    def put(http: httpx.Client, j: int) -> None:
        body = manifest(j)
        url = f"/v2/{SEARCH_REPO}/{_image(j)}/manifests/{sha256(body)}"
        r = http.put(
            url,
            params=[("tag", t) for t in _tags(j, shape)],
            content=body,
            headers={"Content-Type": MANIFEST_TYPE},
        )
        _expect(r, 201, f"PUT {url}")

    def patch(http: httpx.Client, j: int) -> None:
        params = {"repo": SEARCH_REPO, "image": _image(j), "reference": sha256(manifest(j))}
        r = http.patch("/api/v1/properties", params=params, json=_props(j))
        _expect(r, 200, f"PATCH properties {params}")

    for name, fn, n in (
        ("blobs", blobs, SEARCH_IMAGES),
        ("manifests", put, shape.manifests),
        ("properties", patch, shape.manifests),
    ):
        c0, t0 = target.cpu(), time.perf_counter()
        _parallel(target.client, fn, n, f"seeding {name}")
        secs = time.perf_counter() - t0
        out[f"{name}_s"] = secs
        out[f"{name}_rate"] = n / secs
        out[f"{name}_cpu_ms"] = (target.cpu() - c0) / n * 1000
        _log(f"seeded {name}: {n:,} requests in {secs:.1f} s ({n / secs:,.0f}/s)")
    return out


def _walk(http: httpx.Client, params: dict[str, str], stop_at: int) -> tuple[int, str | None]:
    """Follow `next` to the end; the number of items and the cursor after `stop_at` items."""
    seen, cursor, kept = 0, None, None
    while True:
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        page = _expect(http.get("/api/v1/search", params=q), 200, f"search {q}").json()
        seen += len(page["items"])
        cursor = page["next"]
        if kept is None and seen >= stop_at:
            kept = cursor
        if not cursor:
            return seen, kept


def _queries(shape: SearchShape, mid: str | None) -> dict[str, dict[str, str]]:
    needle = str(shape.manifests // 2 + 1)
    q = {
        "prop qa.automated=passed": {"prop": "qa.automated=passed"},
        f"prop build={needle} (1 manifest)": {"prop": f"build={needle}"},
        "image glob search/svc-04*": {"image": "search/svc-04*"},
        "tag glob *-7": {"tag": "*-7"},
        "no filter, first page": {},
    }
    if mid:
        q["no filter, deep page (cursor at the middle)"] = {"cursor": mid}
    return {k: {"repo": SEARCH_REPO, "limit": "100", **v} for k, v in q.items()}


def search(target: Target, shape: SearchShape, reps: int, budget: float) -> str:
    """Seed, walk the whole listing once, then time the queries; the markdown section."""
    seeding = seed_search(target, shape)
    with target.client() as http:
        t0 = time.perf_counter()
        walk = {"repo": SEARCH_REPO, "image": "search/**", "limit": "1000"}
        total, mid = _walk(http, walk, shape.items // 2)
        walk_s = time.perf_counter() - t0
        _log(f"walked {total:,} items in {walk_s:.1f} s")
        queries = _queries(shape, mid)
        samples = {k: Samples() for k in queries}
        found: dict[str, int] = {}
        for name, params in queries.items():  # warm-up, and what each query finds
            page = _expect(http.get("/api/v1/search", params=params), 200, name).json()
            found[name] = len(page["items"])
        spent = dict.fromkeys(queries, 0.0)
        for _ in range(reps):
            for name, params in queries.items():
                if spent[name] > budget and len(samples[name].latency) >= 5:
                    continue
                c0 = target.cpu()
                t = time.perf_counter()
                _expect(http.get("/api/v1/search", params=params), 200, name)
                secs = time.perf_counter() - t
                samples[name].add(secs, target.cpu() - c0)
                spent[name] += secs
        for name, s in samples.items():
            _log(f"{name}: median {s.median_ms():.1f} ms, p95 {s.p95_ms():.1f} ms")
    return search_table(shape, seeding, total, walk_s, samples, found)


def search_table(
    shape: SearchShape,
    seeding: dict[str, float],
    total: int,
    walk_s: float,
    samples: dict[str, Samples],
    found: dict[str, int],
) -> str:
    out = [
        "## Search (Tidegate only)",
        "",
        f"{shape.items:,} tagged manifests in `{SEARCH_REPO}/search/svc-000..{SEARCH_IMAGES - 1}`"
        f": {shape.manifests:,} distinct manifests x {shape.tags} tag(s) each, every manifest "
        "with properties `qa.automated` (passed for 1 in 4), `team`, `build` and the system "
        "ones. Queries `GET /api/v1/search?repo=dev&limit=100&...` as admin, interleaved. "
        "The reference registry has no search: n/a.",
        "",
        "| seeding step | count | wall time | rate | server CPU each |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, n, how in (
        ("blobs", SEARCH_IMAGES, "config + layer, per image (2 x POST+PUT)"),
        ("manifests", shape.manifests, f"PUT by digest with {shape.tags} `?tag=`"),
        ("properties", shape.manifests, "`PATCH /api/v1/properties`"),
    ):
        out.append(
            f"| {name}: {how} | {n:,} | {seeding[name + '_s']:,.1f} s "
            f"| {seeding[name + '_rate']:,.0f}/s | {_ms(seeding[name + '_cpu_ms'])} |"
        )
    out += [
        "",
        f"Full listing `image=search/**&limit=1000`, following `next`: {total:,} items in "
        f"{walk_s:.1f} s ({math.ceil(total / 1000)} pages).",
        "",
        "| query | items | median | p95 | server CPU/query | runs | reference |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in samples.items():
        out.append(
            f"| {name} | {found[name]} | {_ms(s.median_ms())} | {_ms(s.p95_ms())} "
            f"| {_ms(s.cpu_ms())} | {len(s.latency)} | n/a (no search) |"
        )
    return "\n".join(out)

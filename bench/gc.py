"""Online garbage collection at scale (Tidegate only): GC time and server memory over 100,000
blobs and 20,000 manifests, half of it garbage, while a load generator GETs manifests.

Starts its own Tidegate, seeds its store directly (rows in bulk through tidegate.db's tables,
one small file per blob: pushing 100,000 blobs over HTTP would take most of an hour and measure
the push path, not GC), then:

1. baseline: wrk GETs a live manifest (8 keep-alive connections) in 2 s slices, 3 slices;
2. starts ``POST /api/v1/gc`` (default grace; the seeded rows are two days old) and keeps
   running 2 s wrk slices until the job ends;
3. reports GC duration (the job's own), what it removed, peak RSS of the server tree before and
   during GC, and manifest GET throughput and p99 during vs before (ratio).

The reference registry has no online GC (its ``garbage-collect`` needs the registry read-only
or stopped); for contrast, with ``docker-registry`` installed, the same shape of store is written
in its filesystem layout and ``docker-registry garbage-collect`` is timed offline.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

import loads
import servers
from auth import basic_header
from content import ACCEPT
from loads import Metrics
from procstat import RssSampler

MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MT = "application/vnd.oci.image.config.v1+json"
LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
IMAGES = 200  # image names the manifests spread over
SLICE = 2.0  # seconds per wrk run
CONNS = 8


@dataclass
class Options:
    tidegate_cmd: str = ""
    tidegate_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 60.0
    blobs: int = 100_000
    manifests: int = 20_000
    enabled: bool = True
    why_disabled: str = ""


@dataclass
class Store:
    """What was seeded: (digest, bytes) per blob, manifests as (image, tag, digest, body, blobs)
    and which are live."""

    blobs: list[tuple[str, bytes]]
    manifests: list[tuple[str, str, str, bytes, list[int]]]
    live: list[bool]

    @property
    def garbage_blobs(self) -> int:
        return sum(
            len(m[4]) for m, alive in zip(self.manifests, self.live, strict=True) if not alive
        )


def _log(text: str) -> None:
    print(f"  [gc] {text}", file=sys.stderr)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_store(n_blobs: int, n_manifests: int) -> Store:
    """``n_blobs`` small distinct blobs; each manifest names its own ``n_blobs / n_manifests``
    (a config and layers); every other manifest is garbage (deleted)."""
    per = max(2, n_blobs // n_manifests)
    blobs = []
    for i in range(n_manifests * per):
        data = f"tidegate gc bench blob {i} ".encode() + secrets.token_bytes(16)
        blobs.append((_digest(data), data))
    manifests = []
    for m in range(n_manifests):
        own = list(range(m * per, (m + 1) * per))
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MT,
                "config": {
                    "mediaType": CONFIG_MT,
                    "digest": blobs[own[0]][0],
                    "size": len(blobs[own[0]][1]),
                },
                "layers": [
                    {"mediaType": LAYER_MT, "digest": blobs[i][0], "size": len(blobs[i][1])}
                    for i in own[1:]
                ],
            },
            separators=(",", ":"),
        ).encode()
        manifests.append((f"gcbench/img{m % IMAGES}", f"v{m}", _digest(body), body, own))
    return Store(blobs, manifests, [m % 2 == 0 for m in range(n_manifests)])


# --- seeding Tidegate directly ---------------------------------------------------------------


def seed_tidegate(data_dir: Path, store: Store) -> None:
    """Rows in bulk through tidegate.db (the server's own tables), files in its layout."""
    from sqlalchemy import func, insert, select

    from tidegate.db import Database
    from tidegate.db.tables import (
        blobs,
        manifest_contents,
        manifest_references,
        manifests,
        repositories,
        repository_blobs,
        tags,
    )

    root = data_dir / "storage" / "blobs" / "sha256"
    for digest, data in store.blobs:
        hexpart = digest[7:]
        (root / hexpart[:2]).mkdir(parents=True, exist_ok=True)
        (root / hexpart[:2] / hexpart).write_bytes(data)
    old = datetime.now(UTC) - timedelta(days=2)
    db = Database(f"sqlite:///{data_dir / 'tidegate.db'}")
    try:
        with db.transaction() as conn:
            rid = conn.execute(
                select(repositories.c.id).where(repositories.c.key == "dev")
            ).scalar()
            first_id = int(conn.execute(select(func.max(manifests.c.id))).scalar() or 0) + 1
        owner = {}
        for image, _, _, _, own in store.manifests:
            for i in own:
                owner[i] = image
        step = 5000
        for start in range(0, len(store.blobs), step):
            chunk = list(enumerate(store.blobs[start : start + step], start))
            with db.transaction() as conn:
                conn.execute(
                    insert(blobs),
                    [{"digest": d, "size": len(b), "created_at": old} for _, (d, b) in chunk],
                )
                conn.execute(
                    insert(repository_blobs),
                    [
                        {"repository_id": rid, "image": owner[i], "digest": d, "created_at": old}
                        for i, (d, _) in chunk
                    ],
                )
        for start in range(0, len(store.manifests), step):
            page = list(enumerate(store.manifests[start : start + step], start))
            rows: list[dict[str, Any]] = []
            refs: list[dict[str, Any]] = []
            tag_rows: list[dict[str, Any]] = []
            contents: list[dict[str, Any]] = []
            for m, (image, tag, digest, body, own) in page:
                contents.append({"digest": digest, "content": body})
                if not store.live[m]:
                    continue  # deleted: its bytes and blobs stay behind, garbage
                mid = first_id + m
                rows.append(
                    {
                        "id": mid,
                        "repository_id": rid,
                        "image": image,
                        "digest": digest,
                        "media_type": MANIFEST_MT,
                        "size": len(body),
                        "created_at": old,
                    }
                )
                refs += [
                    {"manifest_id": mid, "digest": store.blobs[i][0], "kind": "blob"} for i in own
                ]
                tag_rows.append(
                    {
                        "repository_id": rid,
                        "image": image,
                        "name": tag,
                        "digest": digest,
                        "updated_at": old,
                    }
                )
            with db.transaction() as conn:
                conn.execute(insert(manifest_contents), contents)
                if rows:
                    conn.execute(insert(manifests), rows)
                    conn.execute(insert(manifest_references), refs)
                    conn.execute(insert(tags), tag_rows)
    finally:
        db.dispose()


# --- measuring -------------------------------------------------------------------------------


def _slices(url: str, headers: dict[str, str], tmp: Path, until: threading.Event) -> list[Metrics]:
    out = []
    while not until.is_set():
        out.append(loads.wrk(url, headers, CONNS, SLICE, tmp))
    return out


def _summary(slices: list[Metrics]) -> dict[str, float]:
    requests = sum(s["requests"] for s in slices)
    seconds = sum(s["requests"] / s["rps"] for s in slices if s["rps"])
    p99 = sorted(s["p99_ms"] for s in slices)
    return {
        "rps": requests / seconds if seconds else float("nan"),
        "p99_ms": p99[len(p99) // 2] if p99 else float("nan"),
        "p99_max_ms": p99[-1] if p99 else float("nan"),
        "errors": sum(s["errors"] for s in slices),
        "slices": len(slices),
    }


def measure_tidegate(opts: Options, workdir: Path, store: Store) -> dict[str, Any]:
    password = secrets.token_urlsafe(18)
    server = servers.start_tidegate(
        opts.tidegate_cmd, workdir, password, opts.tidegate_env, opts.start_timeout
    )
    try:
        assert server.proc is not None
        server.stop()  # seed with the server stopped: first start made the schema and `dev`
        t0 = time.monotonic()
        seed_tidegate(workdir / "tidegate" / "data", store)
        seed_seconds = time.monotonic() - t0
        _log(
            f"seeded {len(store.blobs):,} blobs, {len(store.manifests):,} manifests"
            f" in {seed_seconds:.0f} s"
        )
        server = servers.start_tidegate(
            opts.tidegate_cmd, workdir, password, opts.tidegate_env, opts.start_timeout, reuse=True
        )
        pid = server.pid
        sampler = RssSampler({"tidegate": pid})
        sampler.start()
        auth = basic_header("admin", password)
        headers = {"Authorization": auth, "Accept": ACCEPT}
        live = next(m for m, alive in zip(store.manifests, store.live, strict=True) if alive)
        url = f"{server.base_url}/v2/dev/{live[0]}/manifests/{live[1]}"
        tmp = workdir / "gc-tmp"
        tmp.mkdir(exist_ok=True)
        loads.wrk(url, headers, CONNS, 1, tmp)  # warm-up
        # the management API is built on its first request (~16 MB): not part of GC's cost
        httpx.get(
            f"{server.base_url}/api/v1/gc", headers={"Authorization": auth}
        ).raise_for_status()
        sampler.set_phase("before")
        before = [loads.wrk(url, headers, CONNS, SLICE, tmp) for _ in range(3)]
        sampler.set_phase("gc")
        done = threading.Event()
        during: list[Metrics] = []
        load = threading.Thread(
            target=lambda: during.extend(_slices(url, headers, tmp, done)), daemon=True
        )
        with httpx.Client(base_url=server.base_url, timeout=600) as client:
            client.headers["Authorization"] = auth
            load.start()
            started = time.monotonic()
            job = client.post("/api/v1/gc", json={}).raise_for_status().json()
            while job["state"] == "running":
                time.sleep(0.2)
                job = client.get(job["url"]).raise_for_status().json()
            wall = time.monotonic() - started
            done.set()
            load.join()
            if job["state"] != "succeeded":
                raise RuntimeError(f"GC job failed: {job.get('error')}")
            check = client.get(f"/v2/dev/{live[0]}/manifests/{live[1]}", headers=headers)
            if check.status_code != 200 or check.content != live[3]:
                raise RuntimeError(f"a live manifest did not survive GC: {check.status_code}")
        sampler.close()
        return {
            "seed_seconds": seed_seconds,
            "result": job["result"],
            "wall": wall,
            "before": _summary(before),
            "during": _summary(during),
            "rss_before": sampler.peak.get(("tidegate", "before"), 0),
            "rss_gc": sampler.peak.get(("tidegate", "gc"), 0),
        }
    finally:
        server.stop()


# --- the reference registry, offline --------------------------------------------------------


REFERENCE_CONFIG = """\
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
"""


def measure_reference(workdir: Path, store: Store) -> dict[str, Any] | None:
    """Write the same store in distribution's layout; time ``garbage-collect`` (offline)."""
    if shutil.which("docker-registry") is None:
        return None
    root = workdir / "reference-gc"
    v2 = root / "docker" / "registry" / "v2"
    blobs_dir = v2 / "blobs" / "sha256"

    def put_blob(digest: str, data: bytes) -> None:
        hexpart = digest[7:]
        target = blobs_dir / hexpart[:2] / hexpart
        target.mkdir(parents=True, exist_ok=True)
        (target / "data").write_bytes(data)

    def link(path: Path, digest: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "link").write_text(digest)

    t0 = time.monotonic()
    for digest, data in store.blobs:
        put_blob(digest, data)
    for m, (image, tag, digest, body, own) in enumerate(store.manifests):
        put_blob(digest, body)
        repo = v2 / "repositories" / "dev" / image
        for i in own:
            link(repo / "_layers" / "sha256" / store.blobs[i][0][7:], store.blobs[i][0])
        if store.live[m]:  # a deleted manifest has lost its revision and tag links
            link(repo / "_manifests" / "revisions" / "sha256" / digest[7:], digest)
            link(repo / "_manifests" / "tags" / tag / "current", digest)
            link(repo / "_manifests" / "tags" / tag / "index" / "sha256" / digest[7:], digest)
    seed_seconds = time.monotonic() - t0
    config = root / "config.yml"
    config.write_text(REFERENCE_CONFIG.format(root=root))
    started = time.monotonic()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS_KB %M", "docker-registry", "garbage-collect", str(config)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"docker-registry garbage-collect failed: {proc.stderr[-500:]}")
    rss = next(
        (
            int(ln.split()[1]) * 1024
            for ln in proc.stderr.splitlines()
            if ln.startswith("MAXRSS_KB")
        ),
        0,
    )
    left = sum(1 for _ in blobs_dir.glob("*/*/data"))
    return {
        "seed_seconds": seed_seconds,
        "seconds": seconds,
        "rss": rss,
        "blobs_left": left,
        "blobs_before": len(store.blobs) + len(store.manifests),
    }


# --- report ----------------------------------------------------------------------------------


def _mib(n: float) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


def table(opts: Options, store: Store, tg: dict[str, Any], ref: dict[str, Any] | None) -> str:
    r, before, during = tg["result"], tg["before"], tg["during"]
    ratio_rps = during["rps"] / before["rps"] if before["rps"] else float("nan")
    ratio_p99 = during["p99_ms"] / before["p99_ms"] if before["p99_ms"] else float("nan")
    lines = [
        "## Online garbage collection (Tidegate only)",
        "",
        f"Store: {len(store.blobs):,} blobs and {len(store.manifests):,} manifests in `dev`"
        f" ({IMAGES} images); every other manifest deleted, so {store.garbage_blobs:,} blobs and"
        f" {len(store.manifests) - sum(store.live):,} manifests are garbage. Seeded directly in"
        f" {tg['seed_seconds']:.0f} s. Load: wrk, {CONNS} connections, GET of a live manifest by"
        f" tag, {SLICE:g} s slices.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| GC duration (job) | {r['duration']:.1f} s (wall, incl. polling: {tg['wall']:.1f} s) |",
        "| by phase | "
        + ", ".join(f"{name} {secs:.1f} s" for name, secs in r.get("phases", {}).items())
        + " |",
        f"| removed | {r['blobs_removed']:,} blobs ({_mib(r['bytes_freed'])}),"
        f" {r['links_removed']:,} links, {r['manifest_contents_removed']:,} manifests |",
        f"| peak RSS of the server, before / during GC | {_mib(tg['rss_before'])} /"
        f" {_mib(tg['rss_gc'])} |",
        f"| manifest GET before GC | {before['rps']:,.0f} req/s, p99 {before['p99_ms']:.1f} ms |",
        f"| manifest GET during GC | {during['rps']:,.0f} req/s, p99 {during['p99_ms']:.1f} ms"
        f" (worst slice {during['p99_max_ms']:.1f} ms; {during['slices']} slices) |",
        f"| during / before | throughput {ratio_rps:.2f}x, p99 {ratio_p99:.2f}x |",
        f"| load errors | {before['errors'] + during['errors']:.0f} |",
    ]
    if ref is None:
        lines += ["", "Reference registry: `docker-registry` not installed, no offline contrast."]
    else:
        lines += [
            "",
            "The reference registry (CNCF distribution 2.8) has no online GC: `garbage-collect`"
            " runs against a stopped or read-only registry. For contrast, the same store in its"
            f" filesystem layout (written in {ref['seed_seconds']:.0f} s):",
            "",
            "| figure | value |",
            "|---|---|",
            f"| `docker-registry garbage-collect` (offline) | {ref['seconds']:.1f} s |",
            f"| its peak RSS | {_mib(ref['rss'])} |",
            f"| blobs before / after | {ref['blobs_before']:,} / {ref['blobs_left']:,} |",
        ]
    return "\n".join(lines)


def run(opts: Options, workdir: Path, notes: list[str]) -> str:
    if not opts.enabled:
        notes.append(f"gc: skipped ({opts.why_disabled})")
        return ""
    workdir = workdir / "gc"
    workdir.mkdir(parents=True, exist_ok=True)
    _log(f"making {opts.blobs:,} blobs and {opts.manifests:,} manifests ...")
    store = make_store(opts.blobs, opts.manifests)
    tg = measure_tidegate(opts, workdir, store)
    _log(f"GC took {tg['result']['duration']:.1f} s")
    ref = None
    try:
        ref = measure_reference(workdir, store)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        notes.append(f"gc: reference garbage-collect FAILED: {exc}")
    return table(opts, store, tg, ref)

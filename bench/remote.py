"""Remote repository (pull-through cache, issue 5): a pull through Tidegate's cache, cold and
warm, against the same pull directly from the upstream registry, side by side in one run.

Servers (own temp dirs, free loopback ports, started and stopped here): the upstream is
Debian's docker-registry 2.8.2 with htpasswd Basic auth (servers.start_reference), and a
Tidegate started with a config file (TIDEGATE_CONFIG) whose `hub` is a remote of that upstream.

A pull is what a client does: GET the manifest by tag, then GET every blob it lists (config and
layers), streamed and counted, on one new keep-alive connection; auth is sent outside the
timed window (a Basic header for the upstream, a Bearer token from Tidegate's realm).

Per round and per image size, in rotating order:
- direct: the image pulled from the upstream itself;
- cold: a new image (never pulled through Tidegate before) pulled through `hub`: Tidegate
  fetches it from the upstream while streaming it to the client;
- warm: an image already in Tidegate's cache pulled through `hub` (no upstream GET).
Every image is unique (its big layer is the shared random file with a per-image trailer, its
small layer fresh random bytes), so nothing is ever cached by accident.

Then single-flight: N concurrent cold pulls (threads, all released at once) of one new image
through Tidegate, and the upstream GETs counted from the upstream's access log (target: one per
manifest and per blob); the same N pulls directly from the upstream, and warm, for wall time.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import servers
from auth import Credentials
from content import ACCEPT, CONFIG_TYPE, LAYER_TYPE, MANIFEST_TYPE, MIB, BigFile, make_big_file
from content import sha256 as sha256_of
from ociclient import Registry
from procstat import cpu_seconds

REMOTE = "hub"
UPSTREAM_USER = "bench"
SIZES = ("big", "small")
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')

Metrics = dict[str, float]


@dataclass
class Options:
    """From run.py. `enabled` is False when the tidegate slot is not a server we start."""

    tidegate_cmd: str = ""
    tidegate_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 60.0
    rounds: int = 3
    big_mib: int = 100
    concurrent: int = 20
    enabled: bool = True
    why_disabled: str = ""


@dataclass(frozen=True)
class PulledImage:
    """An image seeded in the upstream: its name there, tag, and (digest, size) of each blob."""

    name: str
    tag: str
    manifest_digest: str
    blobs: tuple[tuple[str, int], ...]

    @property
    def size(self) -> int:
        return sum(s for _, s in self.blobs)


@dataclass
class Site:
    upstream: servers.Server
    tidegate: servers.Server
    upstream_password: str
    tidegate_password: str
    big: BigFile
    counter: int = 0

    def upstream_creds(self, name: str) -> Credentials:
        return Credentials(
            self.upstream.base_url, UPSTREAM_USER, self.upstream_password, name, "basic"
        )

    def tidegate_creds(self, name: str) -> Credentials:
        creds = Credentials(self.tidegate.base_url, "admin", self.tidegate_password, name, "auto")
        creds.resolve()
        return creds

    def new_image(self, size: str) -> PulledImage:
        """Push a unique image to the upstream (library/bench-<size>-<n>:1)."""
        self.counter += 1
        name = f"library/bench-{size}-{self.counter}"
        reg = Registry(self.upstream.base_url, name, self.upstream_creds(name))
        try:
            small = os.urandom(1024)
            layers = [(sha256_of(small), len(small))]
            reg.push_bytes(small, layers[0][0])
            if size == "big":
                blob = self.big.variant(f"remote {self.counter} {time.time_ns()}")
                reg.upload_monolithic(blob)
                layers.append((blob.digest, blob.size))
            config = json.dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
                },
                separators=(",", ":"),
            ).encode()
            reg.push_bytes(config, sha256_of(config))
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST_TYPE,
                    "config": {
                        "mediaType": CONFIG_TYPE,
                        "digest": sha256_of(config),
                        "size": len(config),
                    },
                    "layers": [
                        {"mediaType": LAYER_TYPE, "digest": d, "size": s} for d, s in layers
                    ],
                },
                indent=2,
            ).encode()
            reg.put_manifest("1", manifest, MANIFEST_TYPE)
        finally:
            reg.close()
        blobs = ((sha256_of(config), len(config)), *layers)
        return PulledImage(name, "1", sha256_of(manifest), blobs)


# ---------------------------------------------------------------------- one pull
def pull(base_url: str, name: str, image: PulledImage, authorization: str) -> Metrics:
    """Manifest by tag, then every blob streamed; wall seconds and bytes. Raises on any
    status other than 200 or a wrong size."""
    headers = {"Authorization": authorization}
    with httpx.Client(timeout=httpx.Timeout(600, connect=10)) as http:
        t0 = time.perf_counter()
        r = http.get(
            f"{base_url}/v2/{name}/manifests/{image.tag}", headers={**headers, "Accept": ACCEPT}
        )
        if r.status_code != 200 or sha256_of(r.content) != image.manifest_digest:
            raise RuntimeError(f"manifest {name}:{image.tag}: {r.status_code} {r.text[:200]!r}")
        doc = json.loads(r.content)
        total = len(r.content)
        for desc in [doc["config"], *doc["layers"]]:
            with http.stream(
                "GET", f"{base_url}/v2/{name}/blobs/{desc['digest']}", headers=headers
            ) as b:
                if b.status_code != 200:
                    raise RuntimeError(f"blob {desc['digest']}: {b.status_code}")
                n = sum(len(c) for c in b.iter_bytes(MIB))
            if n != desc["size"]:
                raise RuntimeError(f"blob {desc['digest']}: {n} of {desc['size']} bytes")
            total += n
        secs = time.perf_counter() - t0
    return {"secs": secs, "mibs": total / MIB / secs}


# ---------------------------------------------------------------------- servers
CONFIG = """\
# written by bench/remote.py: hub proxies the upstream docker-registry
repositories:
  - {{key: dev, kind: local, stage: dev}}
  - key: {remote}
    kind: remote
    upstream: "{upstream}"
    upstream_username: {user}
    upstream_password: "{password}"
    tag_ttl: 300
  - {{key: docker, kind: virtual, members: [dev, {remote}], default_deploy: dev}}
permission_targets: []
"""


def start(opts: Options, workdir: Path, big: BigFile) -> tuple[Site, list[servers.Server]]:
    up_pw = secrets.token_urlsafe(18)
    upstream = servers.start_reference("upstream", workdir, UPSTREAM_USER, up_pw)
    try:
        config = workdir / "tidegate-remote.yaml"
        config.write_text(
            CONFIG.format(
                remote=REMOTE, upstream=upstream.base_url, user=UPSTREAM_USER, password=up_pw
            )
        )
        tg_pw = secrets.token_urlsafe(18)
        env = {**opts.tidegate_env, "TIDEGATE_CONFIG": str(config)}
        tidegate = servers.start_tidegate(
            opts.tidegate_cmd, workdir / "remote-tidegate", tg_pw, env, opts.start_timeout
        )
    except BaseException:
        upstream.stop()
        raise
    return Site(upstream, tidegate, up_pw, tg_pw, big), [upstream, tidegate]


# ---------------------------------------------------------------------- the measurement
def _log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid else math.nan


def measure_round_robin(
    site: Site, opts: Options, notes: list[str], sizes: dict[str, int]
) -> dict[str, dict[str, list[Metrics]]]:
    """Interleaved rounds of direct / cold / warm per size; per-run metrics with both servers'
    CPU seconds. Records each size's bytes per pull (blobs) in `sizes`."""
    results: dict[str, dict[str, list[Metrics]]] = {}
    for size in SIZES:
        warm = site.new_image(size)
        sizes[size] = warm.size
        warm_name = f"{REMOTE}/{warm.name}"
        pull(site.tidegate.base_url, warm_name, warm, site.tidegate_creds(warm_name).header())
        store: dict[str, list[Metrics]] = {"direct": [], "cold": [], "warm": []}
        results[size] = store
        for r in range(opts.rounds):
            image = site.new_image(size)  # direct and cold pull this one
            kinds = list(store)
            order = kinds[r % 3 :] + kinds[: r % 3]
            for kind in order:
                if kind == "direct":
                    base, name, img = site.upstream.base_url, image.name, image
                    header = site.upstream_creds(name).header()
                else:
                    img = image if kind == "cold" else warm
                    base, name = site.tidegate.base_url, f"{REMOTE}/{img.name}"
                    header = site.tidegate_creds(name).header()  # token fetched before timing
                tg0, up0 = _cpu(site.tidegate.pid), _cpu(site.upstream.pid)
                try:
                    m = pull(base, name, img, header)
                except Exception as exc:
                    notes.append(f"remote {size} {kind} round {r + 1}: FAILED: {exc}")
                    _log(f"[remote {size}] {kind}: FAILED: {exc}")
                    continue
                m["tidegate_cpu_s"] = _cpu(site.tidegate.pid) - tg0
                m["upstream_cpu_s"] = _cpu(site.upstream.pid) - up0
                store[kind].append(m)
                shown = ", ".join(f"{k}={v:,.3g}" for k, v in m.items())
                _log(f"[remote {size}] round {r + 1}/{opts.rounds} {kind}: {shown}")
                time.sleep(0.2)
    return results


def upstream_gets(log: Path, since: int) -> dict[str, int]:
    """Upstream GETs answered 200 after byte offset `since`, by path."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _ACCESS.search(line)
        if m and m["method"] == "GET" and m["status"] == "200":
            path = m["uri"].partition("?")[0]
            out[path] = out.get(path, 0) + 1
    return out


def _together(n: int, one: Callable[[], Metrics]) -> tuple[float, list[Metrics], list[str]]:
    """`one()` on n threads released at once: wall seconds, results, errors."""
    gate = threading.Barrier(n)

    def run() -> Metrics:
        gate.wait()
        return one()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(run) for _ in range(n)]
        results, errors = [], []
        for f in futures:
            try:
                results.append(f.result())
            except Exception as exc:
                errors.append(str(exc))
    return time.perf_counter() - t0, results, errors


@dataclass
class Concurrent:
    size: str
    image: PulledImage
    wall: dict[str, float] = field(default_factory=dict)  # direct / cold / warm
    cpu: dict[str, float] = field(default_factory=dict)  # tidegate CPU s per phase
    errors: dict[str, list[str]] = field(default_factory=dict)
    fetches: dict[str, int] = field(default_factory=dict)  # object -> upstream GETs (cold)


def measure_concurrent(site: Site, opts: Options) -> list[Concurrent]:
    out = []
    log = site.upstream.log
    assert log is not None
    for size in SIZES:
        image = site.new_image(size)
        c = Concurrent(size, image)
        tg_name = f"{REMOTE}/{image.name}"
        tg_header = site.tidegate_creds(tg_name).header()
        up_header = site.upstream_creds(image.name).header()
        for phase in ("direct", "cold", "warm"):  # cold must precede warm here
            if phase == "direct":
                base, name, header = site.upstream.base_url, image.name, up_header
            else:
                base, name, header = site.tidegate.base_url, tg_name, tg_header
            since = log.stat().st_size
            tg0 = _cpu(site.tidegate.pid)
            wall, _, errors = _together(
                opts.concurrent, functools.partial(pull, base, name, image, header)
            )
            c.wall[phase], c.errors[phase] = wall, errors
            c.cpu[phase] = _cpu(site.tidegate.pid) - tg0
            if phase == "cold":
                time.sleep(0.5)  # the registry writes its access line after the response
                gets = upstream_gets(log, since)
                c.fetches["manifest"] = sum(
                    v for k, v in gets.items() if k.startswith(f"/v2/{image.name}/manifests/")
                )
                for i, (digest, _) in enumerate(image.blobs):
                    label = "config" if i == 0 else f"layer {i}"
                    c.fetches[label] = gets.get(f"/v2/{image.name}/blobs/{digest}", 0)
            _log(
                f"[remote {size}] {opts.concurrent} concurrent {phase}: {wall:.2f} s, "
                f"{len(errors)} errors"
                + (f", upstream GETs {c.fetches}" if phase == "cold" else "")
            )
        out.append(c)
    return out


# ---------------------------------------------------------------------- the report
def _med(ms: list[Metrics], key: str) -> float:
    vals = [m[key] for m in ms if key in m and not math.isnan(m[key])]
    return statistics.median(vals) if vals else math.nan


def _fmt_secs(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def _label(size: str, n: int) -> str:
    return f"{n / MIB:,.1f} MiB" if size == "big" else f"{n:,} B"


def _ratio(a: float, b: float) -> str:
    return "-" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}x"


def table(
    results: dict[str, dict[str, list[Metrics]]],
    concurrent: list[Concurrent],
    opts: Options,
    sizes: dict[str, int],
) -> str:
    out = [
        "## Remote repository: pull through the cache vs directly from the upstream",
        "",
        f"Upstream: docker-registry 2.8.2 with htpasswd Basic auth; Tidegate's `{REMOTE}` is a "
        "remote of it. A pull = manifest by tag + every blob, streamed, one new connection; "
        f"{opts.rounds} interleaved rounds (direct / cold / warm, rotating), medians. Cold: an "
        "image never pulled through Tidegate (it fetches from the upstream while streaming); "
        "warm: already cached. CPU: utime+stime of each server's process tree per pull, from "
        "/proc (10 ms ticks: small-image CPU figures are coarse).",
        "",
        "| image | figure | direct from upstream | Tidegate cold | Tidegate warm "
        "| cold / direct | warm / direct |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for size, store in results.items():
        label = _label(size, sizes[size])
        runs = [store[k] for k in ("direct", "cold", "warm")]
        t = [_med(x, "secs") for x in runs]
        out.append(
            f"| {label} | pull time | {_fmt_secs(t[0])} | {_fmt_secs(t[1])} | {_fmt_secs(t[2])} "
            f"| {_ratio(t[1], t[0])} | {_ratio(t[2], t[0])} |"
        )
        if size == "big":
            r = [_med(x, "mibs") for x in runs]
            out.append(
                f"| {label} | MiB/s | {r[0]:,.0f} | {r[1]:,.0f} | {r[2]:,.0f} "
                f"| {_ratio(r[1], r[0])} | {_ratio(r[2], r[0])} |"
            )
        tg = [_med(x, "tidegate_cpu_s") for x in runs]
        up = [_med(x, "upstream_cpu_s") for x in runs]
        out.append(f"| {label} | Tidegate CPU | - | {_fmt_secs(tg[1])} | {_fmt_secs(tg[2])} | | |")
        out.append(
            f"| {label} | upstream CPU | {_fmt_secs(up[0])} | {_fmt_secs(up[1])} "
            f"| {_fmt_secs(up[2])} | | |"
        )
    n = opts.concurrent
    out += [
        "",
        f"{n} concurrent pulls of one new image, all released at once (threads): wall time "
        "until the last finished; upstream GETs (answered 200) counted from the upstream's "
        "access log during the cold phase. Target (PERFORMANCE.md): 1 upstream fetch.",
        "",
        f"| image | direct, {n} at once | Tidegate cold, {n} at once | Tidegate warm, {n} at once "
        "| Tidegate CPU cold / warm | upstream GETs during cold | met? | errors |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for c in concurrent:
        label = _label(c.size, c.image.size)
        fetched = ", ".join(f"{k} {v}" for k, v in c.fetches.items())
        met = "yes" if c.fetches and all(v == 1 for v in c.fetches.values()) else "NO"
        errs = sum(len(e) for e in c.errors.values())
        first = next((e[0][:160] for e in c.errors.values() if e), "")
        out.append(
            f"| {label} | {_fmt_secs(c.wall['direct'])} | {_fmt_secs(c.wall['cold'])} "
            f"| {_fmt_secs(c.wall['warm'])} | {_fmt_secs(c.cpu['cold'])} / "
            f"{_fmt_secs(c.cpu['warm'])} | {fetched} | {met} | {errs}"
            + (f": {first}" if first else "")
            + " |"
        )
    out += ["", "Rounds (pull time): "]
    for size, store in results.items():
        for kind, ms in store.items():
            out.append(f"- {size} {kind}: " + " ".join(_fmt_secs(m["secs"]) for m in ms))
    return "\n".join(out)


def run(opts: Options, workdir: Path, big: BigFile | None, notes: list[str]) -> str:
    """Start the upstream and a remote-configured Tidegate, measure, stop them; markdown."""
    if not opts.enabled:
        notes.append(f"remote: skipped ({opts.why_disabled})")
        return ""
    workdir = workdir / "remote"
    workdir.mkdir(parents=True, exist_ok=True)
    size = opts.big_mib * MIB
    if big is None or big.size != size:
        _log(f"generating the {opts.big_mib} MiB layer ...")
        big = make_big_file(workdir / "layer", size)
    site, started = start(opts, workdir, big)
    try:
        sizes: dict[str, int] = {}
        results = measure_round_robin(site, opts, notes, sizes)
        concurrent = measure_concurrent(site, opts)
        for srv in started:
            if srv.proc is not None and srv.proc.poll() is not None:
                notes.append(f"remote: {srv.name} EXITED (code {srv.proc.returncode})")
    finally:
        for srv in started:
            srv.stop()
    return table(results, concurrent, opts, sizes)

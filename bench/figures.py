"""The figures: each runs `rounds` rounds, rotating the order of the targets every round so each
target takes each position, and records per-round metrics plus server CPU spent during the run.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import loads
import pipeline
import remote
from auth import Credentials
from content import ACCEPT, GIB, BigFile, Image
from loads import Metrics
from ociclient import Registry
from procstat import RssSampler, cpu_seconds


def _load_by_path(name: str, filename: str) -> ModuleType:
    """bench/gc.py cannot be imported as ``gc``: that name is a module built into Python."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gcbench = _load_by_path("gcbench", "gc.py")

# group name (for --only) -> figures, in run order
GROUPS: dict[str, list[str]] = {
    "manifest-get": ["get64", "get1"],
    "manifest-head": ["head64", "head1"],
    "blob-small": ["blob64"],
    "download": ["dl1", "dl4"],
    "upload": ["up_mono", "up_chunk"],
    "mixed": ["mixed"],
    "promotion": ["promotion"],
    "search": ["search"],
    "remote": ["remote"],
    "gc": ["gc"],
}
NEEDS_BIG_FILE = {"download", "upload", "mixed"}  # the shared 1 GiB blob, seeded in both
BIG_GROUPS = NEEDS_BIG_FILE | {"promotion", "gc"}  # left out by --quick unless named
TIDEGATE_ONLY = {"promotion", "search"}  # bench/pipeline.py: the reference has neither
# bench/remote.py: its own upstream and remote-configured Tidegate; bench/gc.py: its own Tidegate
OWN_SERVERS = {"remote", "gc"}
PHASE = {"download": "download", "upload": "upload", "mixed": "mixed"}

Results = dict[str, dict[str, list[Metrics]]]


@dataclass
class Slot:
    """One target: a registry with credentials, or nginx (no auth, static files)."""

    name: str
    base_url: str
    pid: int | None
    repo: str
    creds: Credentials | None = None
    registry: Registry | None = None

    def headers(self, fallback_auth: str) -> dict[str, str]:
        # nginx gets the same Authorization header bytes it ignores, so requests are alike.
        auth = self.creds.header() if self.creds else fallback_auth
        return {"Authorization": auth, "Accept": ACCEPT}

    def url(self, path: str) -> str:
        return f"{self.base_url}/v2/{self.repo}/{path}"


@dataclass
class Bench:
    slots: dict[str, Slot]
    image: Image
    rounds: int
    seconds: float
    tmp: Path
    sampler: RssSampler
    results: Results = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # markdown after the table (pipeline)
    pipeline: pipeline.Options = field(default_factory=pipeline.Options)
    remote: remote.Options = field(default_factory=remote.Options)
    gc: Any = field(default_factory=lambda: gcbench.Options())  # bench/gc.py Options

    # -- engine -------------------------------------------------------------------------
    def interleave(
        self,
        figure: str,
        runs: dict[str, Callable[[], Metrics]],
        per: Callable[[Metrics], float] | None = None,
        per_key: str = "cpu_us",
    ) -> None:
        """Run every target once per round, rotating order; `per(m)` divides server CPU."""
        names = list(runs)
        store = self.results.setdefault(figure, {n: [] for n in names})
        for r in range(self.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                slot = self.slots.get(name)
                pid = slot.pid if slot else None
                if slot and slot.creds:
                    slot.creds.header()  # any token fetch happens here, outside the CPU window
                cpu0 = cpu_seconds(pid) if pid else 0.0
                try:
                    m = runs[name]()
                except Exception as exc:
                    self.notes.append(f"{figure} {name} round {r + 1}: FAILED: {exc}")
                    print(f"  [{figure}] {name}: FAILED: {exc}", file=sys.stderr)
                    continue
                if pid:
                    m["cpu_s"] = cpu_seconds(pid) - cpu0
                    if per is not None and per(m) > 0:
                        m[per_key] = m["cpu_s"] / per(m)
                store[name].append(m)
                if m.get("no_keepalive"):
                    self.notes.append(
                        f"{figure} {name} round {r + 1}: {m['no_keepalive']:,.0f} requests "
                        "without keep-alive (ab reconnected): rate understated"
                    )
                shown = ", ".join(f"{k}={v:,.3g}" for k, v in m.items())
                print(f"  [{figure}] round {r + 1}/{self.rounds} {name}: {shown}", file=sys.stderr)
                time.sleep(0.2)

    def auth_fallback(self) -> str:
        ref = self.slots["reference"].creds
        return ref.header() if ref else ""

    def _h(self, slot: Slot) -> dict[str, str]:
        return slot.headers(self.auth_fallback())

    # -- small objects ---------------------------------------------------------------------
    def _with(
        self, names: list[str], fn: Callable[[Slot], Metrics]
    ) -> dict[str, Callable[[], Metrics]]:
        return {n: functools.partial(fn, self.slots[n]) for n in names if n in self.slots}

    def small(self, figure: str) -> None:
        manifest, blob = "manifests/latest", f"blobs/{self.image.small_digest}"
        tools: dict[str, tuple[Callable[..., Metrics], str, int, bool]] = {
            "get64": (loads.wrk, manifest, 64, True),
            "get1": (loads.wrk, manifest, 1, False),
            "head64": (loads.ab_head, manifest, 64, True),
            "head1": (loads.ab_head, manifest, 1, False),
            "blob64": (loads.wrk, blob, 64, True),
        }
        tool, path, conns, with_nginx = tools[figure]
        names = ["tidegate", "reference"] + (["nginx"] if with_nginx else [])
        runs = self._with(
            names, lambda s: tool(s.url(path), self._h(s), conns, self.seconds, self.tmp)
        )
        self.interleave(figure, runs, per=lambda m: m["requests"] / 1e6)

    # -- 1 GiB -----------------------------------------------------------------------------
    def big(self) -> BigFile:
        if self.image.big is None:
            raise RuntimeError("1 GiB figures need the 1 GiB blob (not seeded with --quick)")
        return self.image.big

    def download(self, figure: str) -> None:
        big = self.big()
        streams = 1 if figure == "dl1" else 4
        path = f"blobs/{big.digest}"
        runs = self._with(
            ["tidegate", "reference", "nginx"],
            lambda s: loads.download(s.url(path), self._h(s), streams, big.size),
        )
        self.interleave(
            figure, runs, per=lambda m: streams * big.size / GIB, per_key="cpu_s_per_gib"
        )

    def upload(self, figure: str) -> None:
        big = self.big()
        counter = iter(range(1_000_000))

        def one(slot: Slot) -> Metrics:
            assert slot.registry is not None
            blob = big.variant(f"bench {slot.name} {figure} {next(counter)} {time.time_ns()}")
            if figure == "up_mono":
                secs = slot.registry.upload_monolithic(blob)
            else:
                secs = slot.registry.upload_chunked(blob, parts=16)
            return {"mibs": blob.size / (1 << 20) / secs}

        runs = self._with(["tidegate", "reference"], one)
        if figure == "up_mono":
            disk = self.tmp / "disk-probe"
            runs["disk"] = lambda: loads.write_fsync(big.variant("disk"), disk)
        self.interleave(figure, runs, per=lambda m: big.size / GIB, per_key="cpu_s_per_gib")

    def mixed(self, figure: str) -> None:
        big = self.big()
        seconds = max(self.seconds, 8.0)
        runs = self._with(
            ["tidegate", "reference"],
            lambda s: loads.mixed(
                s.url("manifests/latest"),
                s.url(f"blobs/{big.digest}"),
                self._h(s),
                big.size,
                seconds,
                self.tmp,
            ),
        )
        self.interleave(figure, runs)

    # -- promotion and search (Tidegate only) ----------------------------------------------
    def tidegate_only(self, figure: str) -> None:
        slot = self.slots["tidegate"]
        opts = self.pipeline
        if opts.standin or slot.creds is None:
            self.notes.append(f"{figure}: skipped, the tidegate slot is a stand-in")
            return
        target = pipeline.Target(
            slot.base_url, slot.pid, slot.creds.user, slot.creds.password, opts.data_dir
        )
        try:
            if figure == "promotion":
                text = pipeline.promotion(target, self.image.big, self.tmp, opts.promotion_rounds)
            else:
                shape = pipeline.SearchShape(opts.search_items, opts.search_tags)
                text = pipeline.search(target, shape, opts.search_reps, opts.search_budget)
        except Exception as exc:
            self.notes.append(f"{figure}: FAILED: {exc}")
            print(f"  [{figure}] FAILED: {exc}", file=sys.stderr)
            return
        self.sections.append(text)

    # -- remote cache (its own servers) ------------------------------------------------------
    def remote_cache(self) -> None:
        try:
            text = remote.run(self.remote, self.tmp, self.image.big, self.notes)
        except Exception as exc:
            self.notes.append(f"remote: FAILED: {exc}")
            print(f"  [remote] FAILED: {exc}", file=sys.stderr)
            return
        if text:
            self.sections.append(text)

    # -- online GC at scale (its own server) ----------------------------------------------------
    def garbage_collection(self) -> None:
        try:
            text = gcbench.run(self.gc, self.tmp, self.notes)
        except Exception as exc:
            self.notes.append(f"gc: FAILED: {exc}")
            print(f"  [gc] FAILED: {exc}", file=sys.stderr)
            return
        if text:
            self.sections.append(text)

    def run(self, figure: str, group: str) -> None:
        self.sampler.set_phase(PHASE.get(group, "small"))
        if group == "gc":
            self.garbage_collection()
        elif group in OWN_SERVERS:
            self.remote_cache()
        elif group in TIDEGATE_ONLY:
            self.tidegate_only(figure)
        elif figure in ("dl1", "dl4"):
            self.download(figure)
        elif figure.startswith("up_"):
            self.upload(figure)
        elif figure == "mixed":
            self.mixed(figure)
        else:
            self.small(figure)

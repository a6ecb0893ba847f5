"""Tidegate vs the reference registry (CNCF distribution 2.8.2) vs nginx, side by side.

    .venv/bin/python bench/run.py [--quick] [--only GROUP[,GROUP]] [--tidegate-standin]

Starts every server on a free loopback port with its own temp data dir, seeds both registries
identically over the HTTP API, runs each figure in interleaved rounds (the order of the targets
rotates every round) and prints a markdown table of medians with ratios and the targets of
PERFORMANCE.md; the same report goes to bench/results/<timestamp>.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import httpx

import loads
import pipeline
import remote
import report
import servers
from auth import Credentials, basic_header
from content import GIB, MANIFEST_TYPE, Image, make_big_file, make_image, sha256
from figures import BIG_GROUPS, GROUPS, NEEDS_BIG_FILE, Bench, Results, Slot, gcbench
from ociclient import Registry
from procstat import RssSampler

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
# tool -> Debian package providing it
TOOLS = {
    "docker-registry": "docker-registry",
    "htpasswd": "apache2-utils",
    "ab": "apache2-utils",
    "wrk": "wrk",
    "nginx": "nginx",
    "curl": "curl",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small objects only, short runs (~2 min)")
    p.add_argument("--only", action="append", default=[], help=f"groups: {', '.join(GROUPS)}")
    p.add_argument("--rounds", type=int, help="rounds per figure (default 3)")
    p.add_argument("--duration", type=float, help="seconds per load run (default 5, quick 2)")
    p.add_argument(
        "--reference-noauth",
        action="store_true",
        help="run the reference without auth (how PERFORMANCE.md's anchors were measured)",
    )
    p.add_argument("--repo", default="dev/bench", help="image name on both registries")
    g = p.add_argument_group("promotion and search (Tidegate only, bench/pipeline.py)")
    g.add_argument("--promotion-rounds", type=int, default=20, help="promotions per size")
    g.add_argument(
        "--search-items", type=int, help="tagged manifests to seed (default 100,000; quick 10,000)"
    )
    g.add_argument(
        "--search-tags",
        type=int,
        default=10,
        help="tags per distinct manifest (default 10: 10,000 manifests make 100,000 items)",
    )
    g.add_argument("--search-reps", type=int, default=20, help="runs per search query")
    g.add_argument(
        "--remote-concurrent", type=int, default=20, help="concurrent cold pulls (remote group)"
    )
    g.add_argument("--gc-blobs", type=int, default=100_000, help="blobs to seed (gc group)")
    g.add_argument("--gc-manifests", type=int, default=20_000, help="manifests (gc group)")
    g = p.add_argument_group("the tidegate slot")
    g.add_argument("--tidegate-cmd", default=str(Path(sys.executable).parent / "tidegate"))
    g.add_argument("--tidegate-env", action="append", default=[], metavar="KEY=VALUE")
    g.add_argument("--tidegate-auth", choices=["auto", "basic", "bearer"], default="auto")
    g.add_argument("--tidegate-start-timeout", type=float, default=60.0)
    g.add_argument("--tidegate-url", help="use an already running server instead of starting one")
    g.add_argument("--tidegate-pid", type=int, help="its pid, for server CPU and RSS")
    g.add_argument("--tidegate-user", default="admin")
    g.add_argument("--tidegate-password", default=os.environ.get("TIDEGATE_ADMIN_PASSWORD"))
    g.add_argument(
        "--tidegate-standin",
        action="store_true",
        help="put a second reference registry in the tidegate slot (to test the harness)",
    )
    p.add_argument("--workdir-parent", default="/var/tmp", help="where the temp dir goes")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (data, logs)")
    args = p.parse_args(argv)
    groups = [g for item in args.only for g in item.split(",") if g]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        p.error(f"unknown group(s) {unknown}; choose from {list(GROUPS)}")
    if not groups:
        groups = [g for g in GROUPS if not (args.quick and g in BIG_GROUPS)]
    if args.tidegate_url and not args.tidegate_password:
        p.error("--tidegate-url needs --tidegate-password (or TIDEGATE_ADMIN_PASSWORD)")
    args.groups = groups
    args.rounds = args.rounds or 3
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.search_items = args.search_items or (10_000 if args.quick else 100_000)
    return args


def check_tools() -> None:
    missing = {t: pkg for t, pkg in TOOLS.items() if shutil.which(t) is None}
    if missing:
        pkgs = " ".join(sorted(set(missing.values())))
        sys.exit(
            f"bench: missing tools: {', '.join(missing)}.\n"
            f"Install them (as root): apt-get install {pkgs}"
        )


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def tool_versions() -> str:
    found = []
    for cmd, pattern in (
        (["docker-registry", "--version"], r"(\d+\.\d+\.\d+)"),
        (["nginx", "-v"], r"nginx/(\S+)"),
        (["wrk", "--version"], r"wrk \S*?(\d+\.\d+\.\d+)"),
        (["ab", "-V"], r"Version (\S+)"),
        (["curl", "--version"], r"curl (\S+)"),
    ):
        m = re.search(pattern, _first_line(cmd))
        found.append(f"{cmd[0]} {m.group(1) if m else '?'}")
    return ", ".join(found)


def header(args: argparse.Namespace, slots: dict[str, Slot], describe: dict[str, str]) -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    creds = slots["tidegate"].creds
    tg_auth = creds.describe() if creds else "?"
    rev = _first_line(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    lines = [
        f"# Tidegate benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        "",
        f"- mode: {'quick' if args.quick else 'full'}; groups: {', '.join(args.groups)}; "
        f"{args.rounds} interleaved rounds, {args.duration:g} s per load run; medians",
        f"- host: {os.cpu_count()} vCPU, {cpu}, Linux {platform.release()}, "
        f"load average at start {os.getloadavg()[0]:.2f}",
        f"- tidegate slot: {describe['tidegate']}, auth {tg_auth}",
        f"- reference: {describe['reference']}",
        f"- nginx: {describe['nginx']}",
        f"- tools: {tool_versions()}",
        f"- tree: {rev}",
    ]
    if args.tidegate_standin:
        lines += [
            "",
            "**The tidegate slot is a STAND-IN (a second docker-registry): these figures test "
            "the harness, not Tidegate.**",
        ]
    return "\n".join(lines)


def nginx_root(workdir: Path, repo: str, image: Image) -> Path:
    root = workdir / "www"
    base = root / "v2" / repo
    (base / "manifests").mkdir(parents=True)
    (base / "blobs").mkdir()
    (base / "manifests" / "latest").write_bytes(image.manifest)
    (base / "blobs" / image.small_digest).write_bytes(image.small)
    if image.big is not None:
        os.link(image.big.path, base / "blobs" / image.big.digest)
    # nginx workers run as nobody when we are root: make the tree readable.
    for d, _, files in os.walk(workdir / "www"):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(Path(d) / f, 0o644)
    return root


def seed(reg: Registry, image: Image) -> None:
    reg.push_bytes(image.config, sha256(image.config))
    reg.push_bytes(image.small, image.small_digest)
    if image.big is not None:
        reg.upload_monolithic(image.big.as_blob())
    reg.put_manifest("latest", image.manifest, MANIFEST_TYPE)


def verify(reg: Registry, image: Image) -> None:
    """Every path the figures load answers 200 with the right bytes (no redirects)."""
    checks = [
        ("GET", "manifests/latest", image.manifest),
        ("HEAD", "manifests/latest", image.manifest),
        ("GET", f"blobs/{image.small_digest}", image.small),
    ]
    for method, path, expected in checks:
        r = reg.get(path, method)
        ok = r.status_code == 200 and r.headers.get("content-length") == str(len(expected))
        if ok and method == "GET":
            ok = sha256(r.content) == sha256(expected)
        if not ok:
            raise RuntimeError(f"{reg.base_url} {method} {path}: {r.status_code}, bad response")
    if image.big is not None:
        r = reg.get(f"blobs/{image.big.digest}", "HEAD")
        if r.status_code != 200 or r.headers.get("content-length") != str(image.big.size):
            raise RuntimeError(f"{reg.base_url} HEAD 1 GiB blob: {r.status_code}")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def start_servers(
    args: argparse.Namespace,
    workdir: Path,
    root: Path,
    ref_pw: str,
    started: dict[str, servers.Server],
) -> None:
    """Start every server, recording each in `started` as soon as it runs (for cleanup)."""
    started["reference"] = servers.start_reference(
        "reference", workdir, "bench", ref_pw, auth=not args.reference_noauth
    )
    if args.tidegate_url:
        started["tidegate"] = servers.external(args.tidegate_url, args.tidegate_pid)
    elif args.tidegate_standin:
        args.tidegate_user, args.tidegate_password = "bench", ref_pw
        started["tidegate"] = servers.start_reference("tidegate-standin", workdir, "bench", ref_pw)
        started["tidegate"].description = "STAND-IN: " + started["tidegate"].description
    else:
        if not shutil.which(shlex.split(args.tidegate_cmd)[0]):
            sys.exit(
                f"bench: {args.tidegate_cmd} not found; install the project (pip install -e .) "
                "or use --tidegate-url / --tidegate-standin"
            )
        args.tidegate_password = args.tidegate_password or secrets.token_urlsafe(18)
        env = dict(kv.split("=", 1) for kv in args.tidegate_env)
        started["tidegate"] = servers.start_tidegate(
            args.tidegate_cmd, workdir, args.tidegate_password, env, args.tidegate_start_timeout
        )
    started["nginx"] = servers.start_nginx(workdir, root)


def make_slots(
    args: argparse.Namespace, started: dict[str, servers.Server], ref_pw: str
) -> dict[str, Slot]:
    slots: dict[str, Slot] = {}
    for name, user, pw, mode in (
        ("reference", "bench", ref_pw, "none" if args.reference_noauth else "basic"),
        ("tidegate", args.tidegate_user, args.tidegate_password or "", args.tidegate_auth),
    ):
        srv = started[name]
        creds = Credentials(srv.base_url, user, pw, args.repo, mode)
        creds.resolve()
        slot = Slot(name, srv.base_url, srv.pid, args.repo, creds)
        slot.registry = Registry(srv.base_url, args.repo, creds)
        slots[name] = slot
    ng = started["nginx"]
    slots["nginx"] = Slot("nginx", ng.base_url, ng.pid, args.repo)
    return slots


def rss_results(sampler: RssSampler) -> Results:
    out: Results = {"rss": {}}
    for slot in ("tidegate", "reference"):
        m: dict[str, float] = {}
        if (slot, "all") in sampler.peak:
            m["peak_all"] = sampler.peak[(slot, "all")]
        if (slot, "mixed") in sampler.peak:
            m["peak_mixed"] = sampler.peak[(slot, "mixed")]
        rise = sampler.rise(slot, ["download", "upload"])
        if rise is not None:
            m["rise_big"] = rise
        out["rss"][slot] = [m]
    return out


def run(args: argparse.Namespace, workdir: Path) -> str:
    t_start = time.monotonic()
    big = None
    if "promotion" in args.groups:
        need = 3 * GIB  # its own 1 GiB layer (unless shared) and the server's copy
        free = shutil.disk_usage(workdir).free
        if free < need:
            sys.exit(f"bench: {free / GIB:.0f} GiB free in {workdir}; need {need / GIB:.0f}")
    if any(g in NEEDS_BIG_FILE for g in args.groups):
        need = (4 + 4 * args.rounds) * GIB
        free = shutil.disk_usage(workdir).free
        if free < need:
            sys.exit(f"bench: {free / GIB:.0f} GiB free in {workdir}; need {need / GIB:.0f}")
        print("generating the 1 GiB blob ...", file=sys.stderr)
        big = make_big_file(workdir / "blob-1g", GIB)
    image = make_image(big)
    ref_pw = secrets.token_urlsafe(18)
    root = nginx_root(workdir, args.repo, image)
    started: dict[str, servers.Server] = {}
    slots: dict[str, Slot] = {}
    try:
        start_servers(args, workdir, root, ref_pw, started)
        slots = make_slots(args, started, ref_pw)
        text = measure(args, workdir, image, started, slots)
    finally:
        for slot in slots.values():
            if slot.registry is not None:
                slot.registry.close()
        for srv in started.values():
            srv.stop()
    return text + f"\n\n(run took {time.monotonic() - t_start:.0f} s)\n"


def measure(
    args: argparse.Namespace,
    workdir: Path,
    image: Image,
    started: dict[str, servers.Server],
    slots: dict[str, Slot],
) -> str:
    """Seed, warm up, run the figures; the report's markdown."""
    sampler = RssSampler({k: s.pid for k, s in slots.items() if k != "nginx"})
    sampler.start()
    sampler.set_phase("seed")
    for name in ("reference", "tidegate"):
        reg = slots[name].registry
        assert reg is not None
        print(f"seeding {name} ...", file=sys.stderr)
        seed(reg, image)
        verify(reg, image)
    tmp = workdir / "tmp"
    tmp.mkdir()
    bench = Bench(slots, image, args.rounds, args.duration, tmp, sampler)
    data_dir = workdir / "tidegate" / "data"
    bench.pipeline = pipeline.Options(
        promotion_rounds=args.promotion_rounds,
        search_items=args.search_items,
        search_tags=args.search_tags,
        search_reps=args.search_reps,
        data_dir=data_dir if started["tidegate"].proc is not None and data_dir.is_dir() else None,
        standin=args.tidegate_standin,
    )
    own = not (args.tidegate_url or args.tidegate_standin)
    bench.remote = remote.Options(
        tidegate_cmd=args.tidegate_cmd,
        tidegate_env=dict(kv.split("=", 1) for kv in args.tidegate_env),
        start_timeout=args.tidegate_start_timeout,
        rounds=args.rounds,
        big_mib=32 if args.quick else 100,
        concurrent=args.remote_concurrent,
        enabled=own,
        why_disabled="it starts its own Tidegate; the tidegate slot is external or a stand-in",
    )
    bench.gc = gcbench.Options(
        tidegate_cmd=args.tidegate_cmd,
        tidegate_env=dict(kv.split("=", 1) for kv in args.tidegate_env),
        start_timeout=args.tidegate_start_timeout,
        blobs=args.gc_blobs,
        manifests=args.gc_manifests,
        enabled=own,
        why_disabled="it starts its own Tidegate; the tidegate slot is external or a stand-in",
    )
    for s in slots.values():  # warm-up, not recorded
        loads.wrk(s.url("manifests/latest"), s.headers(basic_header("x", "y")), 8, 1, tmp)
    for group in args.groups:
        for figure in GROUPS[group]:
            print(f"{figure} ...", file=sys.stderr)
            bench.run(figure, group)
    sampler.close()
    for name, srv in started.items():
        if srv.proc is not None and srv.proc.poll() is not None:
            bench.notes.append(
                f"{name} EXITED during the run (code {srv.proc.returncode}); log tail:\n\n"
                + "".join(f"    {ln}\n" for ln in srv.log_tail().splitlines())
            )
    results = {**bench.results, **rss_results(sampler)}
    describe = {k: s.description for k, s in started.items()}
    text = header(args, slots, describe) + "\n\n" + report.table(results)
    for section in bench.sections:
        text += "\n\n" + section
    if bench.notes:
        text += "\n\n## Notes\n\n" + "\n".join(f"- {n}" for n in bench.notes)
    if bench.results:
        text += "\n\n## Rounds\n\n" + report.raw_rounds(results)
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    check_tools()
    signal.signal(signal.SIGTERM, _on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="tidegate-bench-", dir=args.workdir_parent))
    os.chmod(workdir, 0o755)  # nginx workers (nobody) must reach the static root
    try:
        text = run(args, workdir)
    except (RuntimeError, httpx.HTTPError) as exc:
        hint = "" if args.keep else "\n(rerun with --keep to keep the temp dir and its logs)"
        print(f"bench: {exc}{hint}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now():%Y%m%d-%H%M%S}.md"
    out.write_text(text)
    print(text)
    print(f"written to {out.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

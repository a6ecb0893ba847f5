"""Load generators, one tool per comparison and the same tool for every target:
wrk for GET (a generated lua script sets the headers and prints a JSON summary), ab -i -k for
HEAD (wrk cannot do HEAD), curl to /dev/null for large downloads, and a write+fsync probe for the
disk limit. Each returns plain metrics; callers add server CPU around them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

from content import GIB, MIB, Blob

Metrics = dict[str, float]

WRK_LUA = """\
wrk.method = "GET"
wrk.headers["Authorization"] = {auth}
wrk.headers["Accept"] = {accept}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,' ..
    '"errors":%d,"status_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def wrk(url: str, headers: dict[str, str], conns: int, seconds: float, tmp: Path) -> Metrics:
    """GET `url` on `conns` keep-alive connections for `seconds`: req/s, p50/p99 ms, errors."""
    script = tmp / "wrk.lua"
    script.write_text(
        WRK_LUA.format(
            auth=json.dumps(headers.get("Authorization", "")),
            accept=json.dumps(headers.get("Accept", "*/*")),
        )
    )
    threads = min(2, conns)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "10s"]
    out = subprocess.run(
        [*cmd, "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60
    )
    m = re.search(r"^WRKJSON (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]}{out.stderr[-500:]}")
    d = json.loads(m.group(1))
    secs = d["duration_us"] / 1e6
    return {
        "requests": d["requests"],
        "rps": d["requests"] / secs,
        "p50_ms": d["p50_us"] / 1000,
        "p99_ms": d["p99_us"] / 1000,
        "errors": d["errors"] + d["status_errors"],
    }


def _ab_field(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)}:\s+([\d.]+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def ab_head(url: str, headers: dict[str, str], conns: int, seconds: float, tmp: Path) -> Metrics:
    """HEAD `url` with ab -i -k (HTTP/1.0 keep-alive): req/s, p50/p99 ms, errors."""
    csv = tmp / "ab.csv"
    cmd = ["ab", "-q", "-i", "-k", "-c", str(conns), "-t", f"{seconds:g}"]
    # -n after -t: -t alone caps at 50000 requests; ab allocates n slots, so keep n sane.
    cmd += ["-n", str(int(100_000 * seconds)), "-s", "30", "-e", str(csv)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 90)
    text = out.stdout
    done = _ab_field(text, "Complete requests")
    if out.returncode != 0 or not done:
        raise RuntimeError(f"ab failed ({out.returncode}): {text[-500:]}{out.stderr[-500:]}")
    pct = {}
    for line in csv.read_text().splitlines()[1:]:
        p, ms = line.split(",")
        pct[int(p)] = float(ms)
    keepalive = _ab_field(text, "Keep-Alive requests")
    return {
        "requests": done,
        "rps": done / _ab_field(text, "Time taken for tests"),
        "p50_ms": pct[50],
        "p99_ms": pct[99],
        "errors": _ab_field(text, "Failed requests") + _ab_field(text, "Non-2xx responses"),
        "no_keepalive": done - keepalive,
    }


def _curl_cmd(url: str, headers: dict[str, str]) -> list[str]:
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}\\n"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    return [*cmd, url]


def _check_curl(proc: subprocess.CompletedProcess[str] | tuple[int, str], size: int) -> int:
    code, out = (proc.returncode, proc.stdout) if not isinstance(proc, tuple) else proc
    status, _, got = out.strip().partition(" ")
    if code != 0 or status != "200" or int(got or 0) != size:
        raise RuntimeError(f"curl download: exit {code}, HTTP {status}, {got} of {size} bytes")
    return size


def download(url: str, headers: dict[str, str], streams: int, size: int) -> Metrics:
    """`streams` concurrent curl downloads of `size` bytes: aggregate GiB/s over the wall time."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(_curl_cmd(url, headers), stdout=subprocess.PIPE, text=True)
        for _ in range(streams)
    ]
    outs = [(p.wait(), p.stdout.read() if p.stdout else "") for p in procs]
    wall = time.perf_counter() - t0
    total = sum(_check_curl(o, size) for o in outs)
    return {"gibs": total / GIB / wall, "seconds": wall}


class Puller(threading.Thread):
    """Pulls `url` with curl in a loop until `stop` is set (the pull in flight completes)."""

    def __init__(self, url: str, headers: dict[str, str], size: int, stop: threading.Event) -> None:
        super().__init__(daemon=True, name="puller")
        self.url, self.headers, self.size, self.stop = url, headers, size, stop
        self.bytes = 0
        self.end = 0.0
        self.error = ""

    def run(self) -> None:
        while not self.stop.is_set():
            out = subprocess.run(_curl_cmd(self.url, self.headers), capture_output=True, text=True)
            try:
                self.bytes += _check_curl(out, self.size)
            except RuntimeError as exc:
                self.error = str(exc)
                break
            self.end = time.perf_counter()


def mixed(
    manifest_url: str,
    blob_url: str,
    headers: dict[str, str],
    size: int,
    seconds: float,
    tmp: Path,
    pullers: int = 4,
) -> Metrics:
    """wrk manifest GETs at 64 connections while `pullers` clients pull the big blob in loops;
    the pulls start first and outlast wrk, so wrk's whole window is under download load."""
    stop = threading.Event()
    ps = [Puller(blob_url, headers, size, stop) for _ in range(pullers)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    time.sleep(0.5)
    try:
        m = wrk(manifest_url, headers, 64, seconds, tmp)
    finally:
        stop.set()
        for p in ps:
            p.join()
    errors = [p.error for p in ps if p.error]
    if errors:
        raise RuntimeError("; ".join(errors))
    end = max(p.end for p in ps)
    m["dl_gibs"] = sum(p.bytes for p in ps) / GIB / (end - t0) if end else 0.0
    return m


def write_fsync(blob: Blob, dest: Path) -> Metrics:
    """The disk limit for uploads: write the same bytes to a new file and fsync it."""
    t0 = time.perf_counter()
    with dest.open("wb") as f:
        for chunk in blob.chunks():
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    secs = time.perf_counter() - t0
    dest.unlink()
    return {"mibs": blob.size / MIB / secs}

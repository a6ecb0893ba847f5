"""Medians of the rounds, the targets of /work/shared/spec/PERFORMANCE.md, and the markdown."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from figures import Results

Check = Callable[["Medians"], "bool | None"]


class Medians:
    def __init__(self, results: Results) -> None:
        self.results = results

    def __call__(self, figure: str, slot: str, metric: str) -> float | None:
        rounds = self.results.get(figure, {}).get(slot, [])
        values = [m[metric] for m in rounds if metric in m]
        return statistics.median(values) if values else None

    def errors(self, figure: str, slot: str) -> float:
        return sum(m.get("errors", 0) for m in self.results.get(figure, {}).get(slot, []))


def _rps(v: float) -> str:
    return f"{v:,.0f} req/s"


def _ms(v: float) -> str:
    return f"{v:.2f} ms" if v < 10 else f"{v:,.0f} ms"


def _us(v: float) -> str:
    return f"{v:,.0f} us"


def _gibs(v: float) -> str:
    return f"{v:.2f} GiB/s"


def _mibs(v: float) -> str:
    return f"{v:,.0f} MiB/s"


def _spg(v: float) -> str:
    return f"{v:.2f} s/GiB"


def _mb(v: float) -> str:
    return f"{v / 1e6:,.0f} MB"


@dataclass
class Row:
    label: str
    figure: str
    metric: str
    fmt: Callable[[float], str]
    target: str = "-"
    check: Check | None = None
    limit: str = "nginx"  # which slot fills the "nginx / limit" column


def _ge(a: float | None, b: float | None, k: float = 1.0) -> bool | None:
    return None if a is None or b is None else a >= k * b


def _all(*xs: bool | None) -> bool | None:
    return None if any(x is None for x in xs) else all(xs)


def _p50_target(verb: str) -> tuple[str, Check | None]:
    if verb != "GET":
        return "-", None
    return "<= 0.3 ms", lambda M: _ge(0.3, M("get1", "tidegate", "p50_ms"))


def _manifest_rate_ok(f: str, M: Medians) -> bool | None:
    return _all(
        _ge(M(f, "tidegate", "rps"), M(f, "reference", "rps"), 12),
        _ge(M(f, "tidegate", "rps"), M(f, "nginx", "rps"), 0.2),
    )


def _manifest_p99_ok(f: str, M: Medians) -> bool | None:
    return _ge(M(f, "reference", "p99_ms"), M(f, "tidegate", "p99_ms"))


def _manifest_cpu_ok(f: str, M: Medians) -> bool | None:
    return _ge(175.0, M(f, "tidegate", "cpu_us"))


def _download_rate_ok(f: str, M: Medians) -> bool | None:
    return _ge(M(f, "tidegate", "gibs"), M(f, "nginx", "gibs"), 0.8)


def _rows() -> list[Row]:
    rows: list[Row] = []
    for verb, f64, f1, tool in (("GET", "get64", "get1", "wrk"), ("HEAD", "head64", "head1", "ab")):
        rows += [
            Row(
                f"manifest {verb}, 64 conn ({tool}): rate",
                f64,
                "rps",
                _rps,
                ">= 12x ref, >= 0.2x nginx",
                functools.partial(_manifest_rate_ok, f64),
            ),
            Row(
                f"manifest {verb}, 64 conn: p99",
                f64,
                "p99_ms",
                _ms,
                "< ref",
                functools.partial(_manifest_p99_ok, f64),
            ),
            Row(
                f"manifest {verb}, 64 conn: server CPU/req",
                f64,
                "cpu_us",
                _us,
                "<= 175 us",
                functools.partial(_manifest_cpu_ok, f64),
            ),
            Row(f"manifest {verb}, 1 conn: rate", f1, "rps", _rps),
            Row(f"manifest {verb}, 1 conn: p50", f1, "p50_ms", _ms, *_p50_target(verb)),
            Row(f"manifest {verb}, 1 conn: server CPU/req", f1, "cpu_us", _us),
        ]
    rows += [
        Row("1 KB blob GET, 64 conn (wrk): rate", "blob64", "rps", _rps),
        Row("1 KB blob GET, 64 conn: p99", "blob64", "p99_ms", _ms),
        Row("1 KB blob GET, 64 conn: server CPU/req", "blob64", "cpu_us", _us),
    ]
    for fig, n in (("dl1", 1), ("dl4", 4)):
        rows += [
            Row(
                f"1 GiB download, {n} stream{'s' if n > 1 else ''} (curl)",
                fig,
                "gibs",
                _gibs,
                ">= 0.8x nginx",
                functools.partial(_download_rate_ok, fig),
            ),
            Row(
                f"1 GiB download, {n} stream{'s' if n > 1 else ''}: server CPU",
                fig,
                "cpu_s_per_gib",
                _spg,
            ),
        ]
    rows += [
        Row(
            "1 GiB monolithic upload (POST+PUT), 201",
            "up_mono",
            "mibs",
            _mibs,
            ">= 2.5x ref, >= 0.5x write+fsync",
            lambda M: _all(
                _ge(M("up_mono", "tidegate", "mibs"), M("up_mono", "reference", "mibs"), 2.5),
                _ge(M("up_mono", "tidegate", "mibs"), M("up_mono", "disk", "mibs"), 0.5),
            ),
            limit="disk",
        ),
        Row("1 GiB monolithic upload: server CPU", "up_mono", "cpu_s_per_gib", _spg),
        Row(
            "1 GiB chunked upload (16 x 64 MiB PATCH), 201",
            "up_chunk",
            "mibs",
            _mibs,
            ">= 0.9x own monolithic",
            lambda M: _ge(M("up_chunk", "tidegate", "mibs"), M("up_mono", "tidegate", "mibs"), 0.9),
        ),
        Row("1 GiB chunked upload: server CPU", "up_chunk", "cpu_s_per_gib", _spg),
        Row(
            "mixed: manifest GET 64 conn + 4 pulls: rate",
            "mixed",
            "rps",
            _rps,
            ">= 8x ref",
            lambda M: _ge(M("mixed", "tidegate", "rps"), M("mixed", "reference", "rps"), 8),
        ),
        Row(
            "mixed: manifest p99",
            "mixed",
            "p99_ms",
            _ms,
            "<= 50 ms",
            lambda M: _ge(50.0, M("mixed", "tidegate", "p99_ms")),
        ),
        Row(
            "mixed: download rate (4 pulls)",
            "mixed",
            "dl_gibs",
            _gibs,
            ">= 1x ref",
            lambda M: _ge(M("mixed", "tidegate", "dl_gibs"), M("mixed", "reference", "dl_gibs")),
        ),
        Row(
            "RSS peak (server tree) during mixed load",
            "rss",
            "peak_mixed",
            _mb,
            "<= 150 MB",
            lambda M: _ge(150e6, M("rss", "tidegate", "peak_mixed")),
        ),
        Row(
            "RSS rise during 1 GiB transfers",
            "rss",
            "rise_big",
            _mb,
            "flat (<= 64 MB)",
            lambda M: _ge(64e6, M("rss", "tidegate", "rise_big")),
        ),
        Row("RSS peak (server tree), whole run", "rss", "peak_all", _mb),
    ]
    return rows


def _cell(M: Medians, row: Row, slot: str) -> str:
    v = M(row.figure, slot, row.metric)
    if v is None:
        return "-"
    return row.fmt(v) + (" (!)" if M.errors(row.figure, slot) else "")


def table(results: Results) -> str:
    M = Medians(results)
    out = [
        "| figure | tidegate | reference | ratio | nginx / limit | target | met? |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in _rows():
        t, r = M(row.figure, "tidegate", row.metric), M(row.figure, "reference", row.metric)
        if t is None and r is None:
            continue
        ratio = f"{t / r:.2f}x" if t is not None and r else "-"
        met = row.check(M) if row.check else None
        if row.check is None:
            verdict = ""
        elif M.errors(row.figure, "tidegate") or M.errors(row.figure, "reference"):
            verdict = "invalid (errors)"
        else:
            verdict = {True: "yes", False: "NO", None: "n/a"}[met]
        cells = [row.label, _cell(M, row, "tidegate"), _cell(M, row, "reference"), ratio]
        cells += [_cell(M, row, row.limit), row.target, verdict]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


MAIN_METRIC = {"get64": "rps", "get1": "p50_ms", "head64": "rps", "head1": "p50_ms"}


def raw_rounds(results: Results) -> str:
    """Every round's headline metric and CPU, so the spread is visible next to the medians."""
    out = ["| figure | target | rounds (headline metric; server CPU) |", "|---|---|---|"]
    for figure, slots in results.items():
        if figure == "rss":
            continue
        for slot, rounds in slots.items():
            parts = []
            for m in rounds:
                key = MAIN_METRIC.get(figure) or next(k for k in ("rps", "gibs", "mibs") if k in m)
                cpu = next((m[k] for k in ("cpu_us", "cpu_s_per_gib") if k in m), None)
                text = f"{key}={m[key]:,.3g}"
                if "dl_gibs" in m:
                    text += f"; dl={m['dl_gibs']:.2f} GiB/s"
                if cpu is not None:
                    text += f"; cpu={cpu:,.3g}"
                if m.get("errors"):
                    text += f"; ERRORS={m['errors']:,.0f}"
                parts.append(text)
            out.append(f"| {figure} | {slot} | {' / '.join(parts) or 'failed'} |")
    return "\n".join(out)

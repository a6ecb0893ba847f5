"""Server-side cost from /proc: CPU seconds and RSS of a process and all its descendants.

CPU is utime+stime+cutime+cstime of every live process in the tree: a reaped child's time is in
its parent's c-fields, a live child's in its own, so nothing is counted twice. RSS is the plain
sum of VmRSS over the tree (shared pages of pre-forked workers count once per process, as `ps`
would show them). The sampler thread records peaks per (slot, phase) while figures run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return kids
    for task in tasks:
        try:
            kids.extend(int(x) for x in (task / "children").read_text().split())
        except OSError:
            continue
    return kids


def tree(pid: int) -> list[int]:
    """The pid and all its live descendants (empty if the pid is gone)."""
    if not Path(f"/proc/{pid}").exists():
        return []
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime+stime+cutime+cstime summed over the tree, in seconds."""
    ticks = 0
    for p in tree(pid):
        f = _stat_fields(p)
        if f is not None:
            # fields after comm start at index 3 (state); utime is field 14 -> index 11.
            ticks += sum(int(x) for x in f[11:15])
    return ticks / CLK_TCK


def rss_bytes(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class CpuMeter:
    """CPU seconds spent by each watched server between start() and stop()."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {k: cpu_seconds(p) for k, p in self.pids.items() if p}

    def stop(self) -> dict[str, float]:
        return {k: cpu_seconds(p) - self.before[k] for k, p in self.pids.items() if p}


class RssSampler(threading.Thread):
    """Samples RSS of each server tree every `interval` s; keeps peaks and baselines per phase."""

    def __init__(self, pids: dict[str, int | None], interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pids = {k: p for k, p in pids.items() if p}
        self.interval = interval
        self.phase = "start"
        self.peak: dict[tuple[str, str], int] = {}
        self.baseline: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _sample(self) -> None:
        with self._lock:
            for slot, pid in self.pids.items():
                rss = rss_bytes(pid)
                for phase in (self.phase, "all"):
                    key = (slot, phase)
                    self.peak[key] = max(self.peak.get(key, 0), rss)

    def set_phase(self, phase: str) -> None:
        """Switch phase; the first switch to a phase records each server's RSS as its baseline."""
        with self._lock:
            self.phase = phase
            for slot, pid in self.pids.items():
                self.baseline.setdefault((slot, phase), rss_bytes(pid))
        self._sample()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def close(self) -> None:
        self._stop.set()
        self._sample()

    def rise(self, slot: str, phases: Iterable[str]) -> int | None:
        """Largest peak-minus-baseline over the given phases (None if none was sampled)."""
        rises = [
            self.peak[(slot, ph)] - self.baseline[(slot, ph)]
            for ph in phases
            if (slot, ph) in self.peak and (slot, ph) in self.baseline
        ]
        return max(rises) if rises else None

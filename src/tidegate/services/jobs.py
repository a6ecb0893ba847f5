"""Jobs: long work (garbage collection; at merge also scheduled cleanups) that a client starts
and then polls, and the periodic scheduler.

- A job is a row (``jobs``): kind, state (``running`` -> ``succeeded`` | ``failed``), progress
  (``{"phase", "done", "total", ...}``), result, error, actor, times. It runs in a thread of the
  process that accepted it; ``GET /api/v1/jobs/{id}`` reads the row from any process.
- A job names a *resource*; a lease on it (``job_leases``, the idea of ``remote_leases``: the
  INSERT wins, an expired lease is taken over) makes work on one resource run once at a time in
  the whole deployment. The runner renews it with every progress report; a runner that dies
  stops renewing, so its lease expires and its job reads as failed ("abandoned").
- ``Scheduler`` runs in every server worker; each periodic task's next due time is a row
  (``job_schedules``) that a worker claims by moving it forward with one conditional UPDATE, so
  a due run happens once per deployment however many workers tick.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from tidegate.db import Database
from tidegate.db import jobs as jobs_q
from tidegate.errors import Conflict, NotFound

log = structlog.get_logger("tidegate.jobs")

LEASE_SECONDS = 60.0  # a runner that shows no sign of life this long has stopped
_REPORT_EVERY = 0.5  # progress rows written at most this often
JOB_NICENESS = 10  # added to the job thread's nice value


class JobLost(Exception):
    """The job's lease was taken over (its runner was thought dead): stop working."""


@dataclass(frozen=True, slots=True)
class JobView:
    id: str
    kind: str
    state: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobContext:
    """What a running job sees: progress reports (which also keep its lease alive)."""

    def __init__(self, service: JobService, job_id: str, resource: str) -> None:
        self._service = service
        self.job_id = job_id
        self._resource = resource
        self._last = 0.0
        self.progress: dict[str, Any] = {}

    def report(self, force: bool = False, **progress: Any) -> None:
        """Record progress (``phase``, ``done``, ``total``, ...); throttled unless ``force``."""
        self.progress = {**self.progress, **progress}
        now = time.monotonic()
        if not force and now - self._last < _REPORT_EVERY:
            return
        self._last = now
        db = self._service.db
        with db.transaction() as conn:
            if not jobs_q.renew_lease(
                conn, _lease_key(self._resource), self._service.holder, time.time() + LEASE_SECONDS
            ):
                raise JobLost(f"job {self.job_id} lost its lease on {self._resource}")
            jobs_q.update_job(conn, self.job_id, progress=self.progress, heartbeat=time.time())


Runner = Callable[[JobContext, dict[str, Any]], dict[str, Any]]


def _lease_key(resource: str) -> str:
    return f"job:{resource}"


class JobService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.holder = f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._runners: dict[str, Runner] = {}

    def register(self, kind: str, runner: Runner) -> None:
        self._runners[kind] = runner

    def _claim(self, kind: str, params: dict[str, Any], actor: str, resource: str) -> str:
        if kind not in self._runners:
            raise NotFound(f"no job kind {kind!r}")
        job_id = uuid.uuid4().hex
        now = time.time()
        with self.db.transaction() as conn:
            if not jobs_q.take_lease(
                conn, _lease_key(resource), self.holder, job_id, now + LEASE_SECONDS, now
            ):
                running = jobs_q.lease_holder(conn, _lease_key(resource), now)
                raise Conflict(
                    f"a {kind} job is already running ({running}); wait for it to finish",
                    detail={"job": running},
                )
            jobs_q.create(conn, job_id, kind, params, actor, now)
            jobs_q.update_job(conn, job_id, state="running", started_at=datetime.now(UTC))
        return job_id

    def start(self, kind: str, params: dict[str, Any], actor: str, resource: str) -> JobView:
        """Start a job in a background thread of this process; Conflict when one on the same
        resource runs anywhere in the deployment."""
        job_id = self._claim(kind, params, actor, resource)
        threading.Thread(
            target=self._run, args=(job_id, kind, params, resource), name=f"job-{kind}", daemon=True
        ).start()
        return self.get(job_id)

    def run(self, kind: str, params: dict[str, Any], actor: str, resource: str) -> JobView:
        """Run a job in this thread (the scheduler's); Conflict as ``start``."""
        job_id = self._claim(kind, params, actor, resource)
        self._run(job_id, kind, params, resource)
        return self.get(job_id)

    def _run(self, job_id: str, kind: str, params: dict[str, Any], resource: str) -> None:
        _background_priority()
        context = JobContext(self, job_id, resource)
        state, result, error = "failed", None, None
        try:
            result = self._runners[kind](context, params)
            state = "succeeded"
        except Exception as exc:
            log.exception("job failed", job=job_id, kind=kind)
            error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        finally:
            with self.db.transaction() as conn:
                jobs_q.update_job(
                    conn,
                    job_id,
                    state=state,
                    result=result,
                    error=error,
                    progress=context.progress,
                    finished_at=datetime.now(UTC),
                    heartbeat=time.time(),
                )
                jobs_q.release_lease(conn, _lease_key(resource), self.holder)

    def get(self, job_id: str) -> JobView:
        with self.db.read() as conn:
            row = jobs_q.get(conn, job_id)
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return _view(row)

    def latest(self, kind: str, limit: int = 20) -> list[JobView]:
        with self.db.read() as conn:
            return [_view(r) for r in jobs_q.latest(conn, kind, limit)]


def _background_priority() -> None:
    """Jobs yield the CPU to requests: on Linux a thread has its own nice value, so the job's
    thread gets a lower priority than the event loop serving the registry in the same process
    (what a manifest GET's latency during GC depends on, docs/benchmarks.md)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: normal priority
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + JOB_NICENESS))


def _view(row: dict[str, Any]) -> JobView:
    heartbeat = float(row.pop("heartbeat"))
    if row["state"] in ("queued", "running") and heartbeat < time.time() - LEASE_SECONDS:
        row["state"] = "failed"
        row["error"] = "abandoned: the server process running it stopped"
    return JobView(**row)


@dataclass(frozen=True, slots=True)
class Task:
    """A periodic task: ``run`` is called about every ``interval`` seconds, once per
    deployment."""

    name: str
    interval: float
    run: Callable[[], None]


class Scheduler:
    """Ticks in a daemon thread of every worker; runs each due task where it claims it."""

    def __init__(self, db: Database, tasks: list[Task], tick: float | None = None) -> None:
        self._db = db
        self._tasks = tasks
        shortest = min((t.interval for t in tasks), default=60.0)
        self._tick = tick if tick is not None else max(1.0, min(30.0, shortest / 4))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self._tasks or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="tidegate-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> list[str]:
        """Run every task that is due and claimed here; returns their names."""
        ran = []
        for task in self._tasks:
            try:
                with self._db.transaction() as conn:
                    claimed = jobs_q.claim_due(conn, task.name, task.interval, time.time())
                if claimed:
                    ran.append(task.name)
                    task.run()
            except Conflict:
                pass  # the same work is running already (started by hand): fine
            except Exception:
                log.exception("scheduled task failed", task=task.name)
        return ran

    def _loop(self) -> None:
        while True:
            self.tick()
            if self._stop.wait(self._tick):
                return

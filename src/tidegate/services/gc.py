"""Online garbage collection and storage accounting (docs/lifecycle.md).

A run (a job of kind ``gc``, one at a time in the deployment) goes through four phases, each
paged by key and each page in its own short transaction, so pushes, pulls and promotions go on
between pages and memory stays flat however large the store:

1. ``uploads``: upload sessions untouched for ``uploads_max_age`` (their row's ``updated_at``,
   moved by every append, and their bytes' modification time) are purged with their bytes;
   upload directories without a row (a server killed during a monolithic upload, a remote
   fetch cut off) too, once as old.
2. ``links``: repository blob links that no manifest of the same repository and image names
   and that are older than the grace period are removed (a blob pushed without a manifest is
   garbage after the grace period, as in the CNCF distribution registry).
3. ``blobs``: blobs that are not live (``db/gc.py:live``) are deleted, row and file, a page at
   a time under the per-digest lock, re-checked inside the locked transaction.
   Then blob files without a row (a crash between an upload's move into place and its
   commit leaves one), older than the grace period, are deleted under the lock too.
4. ``manifests``: manifest bytes no manifest row names are deleted, under the lock too.

A dry run counts what each phase would remove and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.blobstore import BlobStore, UploadStore
from tidegate.db import Database
from tidegate.db import gc as gc_q
from tidegate.db import promotions as promotion_q
from tidegate.db import trash as trash_q
from tidegate.errors import Denied, InvalidRequest, NotFound
from tidegate.oci.digest import Digest
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.jobs import JobContext, JobService, JobView
from tidegate.services.metrics import Metrics
from tidegate.services.names import NameResolver

log = structlog.get_logger("tidegate.gc")

PAGE = 500  # rows listed per query
SWEEP = 100  # blobs deleted per locked transaction
UNLINKERS = 8  # files unlinked at once
MAX_GRACE = 365 * 86400.0


@dataclass(frozen=True, slots=True)
class GcOptions:
    grace: float  # seconds
    uploads_max_age: float  # seconds


class GarbageCollector:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        uploads: UploadStore,
        jobs: JobService,
        audit: AuditLog,
        options: GcOptions,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._db = db
        self._blobs = blobs
        self._uploads = uploads
        self._jobs = jobs
        self._audit = audit
        self.options = options
        jobs.register("gc", self._run)

    # --- starting ------------------------------------------------------------------------

    def start(self, actor: Actor, dry_run: bool = False, grace: float | None = None) -> JobView:
        """Start a run as a job (admin; the API checks). Conflict while one runs."""
        return self._jobs.start("gc", self._params(actor, dry_run, grace), actor.name, "gc")

    def run_scheduled(self) -> None:
        """The scheduler's run: in this thread, with the configured grace period."""
        actor = Actor(Principal("user", "scheduler", is_admin=True))
        self._jobs.run("gc", self._params(actor, False, None), actor.name, "gc")

    def _params(self, actor: Actor, dry_run: bool, grace: float | None) -> dict[str, Any]:
        if grace is not None and not 0 <= grace <= MAX_GRACE:
            raise InvalidRequest("grace must be between 0 seconds and 365 days")
        return {
            "dry_run": dry_run,
            "grace": self.options.grace if grace is None else float(grace),
            "address": actor.address,
        }

    # --- the run -------------------------------------------------------------------------

    def _run(self, ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        dry = bool(params.get("dry_run"))
        grace = float(params.get("grace", self.options.grace))
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=grace)
        result: dict[str, Any] = {
            "dry_run": dry,
            "grace": grace,
            "uploads_purged": 0,
            "links_removed": 0,
            "blobs_removed": 0,
            "bytes_freed": 0,
            "manifest_contents_removed": 0,
            "orphan_files_removed": 0,
            "trash_purged": 0,
        }
        timings: dict[str, float] = {}
        if not dry:  # expired trash entries stop holding their content in this very run
            with self._db.transaction() as conn:
                result["trash_purged"] = trash_q.purge_expired_trash(conn, now)

        def phase(name: str, step: int) -> None:
            timings[name] = time.monotonic()
            ctx.report(force=True, phase=name, phases=4, step=step, done=0, total=None)

        phase("uploads", 1)
        result["uploads_purged"] = self._uploads_phase(ctx, dry, now)
        phase("links", 2)
        result["links_removed"] = self._links_phase(ctx, dry, cutoff)
        phase("blobs", 3)
        removed, freed = self._blobs_phase(ctx, dry, cutoff)
        orphans, orphan_bytes = self._files_phase(ctx, dry, cutoff)
        result["blobs_removed"], result["bytes_freed"] = removed, freed + orphan_bytes
        result["orphan_files_removed"] = orphans
        phase("manifests", 4)
        result["manifest_contents_removed"] = self._contents_phase(ctx, dry)
        ends = [*list(timings.values())[1:], time.monotonic()]
        result["phases"] = {
            name: round(end - start, 3)
            for (name, start), end in zip(timings.items(), ends, strict=True)
        }
        result["duration"] = round(time.monotonic() - started, 3)
        ctx.report(force=True, phase="done", step=4, done=1, total=1)
        actor = Actor(Principal("user", self._actor_of(ctx)), params.get("address"))
        with self._db.transaction() as conn:
            self._record(conn, actor, ctx.job_id, result)
        log.info("garbage collection finished", job=ctx.job_id, **result)
        if self._metrics is not None and not dry:
            self._metrics.gc_completed(
                "completed",
                result["blobs_removed"],
                result["bytes_freed"],
                result["duration"],
                time.time(),
            )
        return result

    def _actor_of(self, ctx: JobContext) -> str:
        try:
            return self._jobs.get(ctx.job_id).actor
        except NotFound:  # pragma: no cover - the row is ours
            return "unknown"

    def _record(self, conn: Connection, actor: Actor, job_id: str, result: dict[str, Any]) -> None:
        if result["dry_run"]:
            self._audit.record(conn, actor, "gc.dry_run", "gc", {"job": job_id, **result})
            return
        promotion_q.publish(
            conn, "gc.completed", "gc", {"job": job_id, "actor": actor.name, **result}
        )
        self._audit.record(conn, actor, "gc.completed", "gc", {"job": job_id, **result})

    def _pages(
        self,
        ctx: JobContext,
        fetch: Callable[[Connection, Any], list[Any]],
        key: Callable[[Any], Any],
    ) -> Any:
        """Yield pages from ``fetch(conn, after)`` (keyset), each read in its own snapshot."""
        after = None
        while True:
            with self._db.read() as conn:
                page = fetch(conn, after)
            if not page:
                return
            yield page
            after = key(page[-1])
            if len(page) < PAGE:
                return

    def _uploads_phase(self, ctx: JobContext, dry: bool, now: datetime) -> int:
        before = now - timedelta(seconds=self.options.uploads_max_age)
        before_ts = before.timestamp()
        purged = 0
        # sessions with a row, untouched since ``before``
        for page in self._pages(ctx, lambda c, a: gc_q.stale_uploads(c, before, a, PAGE), str):
            # bytes written since (a long PATCH that has not ended yet) keep a session
            idle = [u for u in page if (self._uploads.modified(u) or 0.0) < before_ts]
            if dry:
                purged += len(idle)
            else:
                with self._db.transaction() as conn:
                    gone = gc_q.remove_uploads(conn, idle, before)
                for upload_id in gone:
                    self._uploads.cancel(upload_id)
                purged += len(gone)
            ctx.report(done=purged)
        # directories without a row (killed monolithic uploads, cut-off remote fetches)
        listed = self._uploads.listed()
        for start in range(0, len(listed), PAGE):
            chunk = listed[start : start + PAGE]
            with self._db.read() as conn:
                known = gc_q.known_uploads(conn, chunk)
            for upload_id in chunk:
                if upload_id in known:
                    continue
                modified = self._uploads.modified(upload_id)
                if modified is None or modified >= before_ts:
                    continue
                if not dry:
                    self._uploads.cancel(upload_id)
                purged += 1
            ctx.report(done=purged)
        return purged

    def _links_phase(self, ctx: JobContext, dry: bool, cutoff: datetime) -> int:
        with self._db.read() as conn:
            total = gc_q.count_dangling_links(conn, cutoff)
        ctx.report(force=True, total=total)
        if dry or not total:
            return total
        removed = 0
        for page in self._pages(
            ctx, lambda c, a: gc_q.dangling_links(c, cutoff, a, PAGE), lambda row: row
        ):
            with self._db.transaction() as conn:
                gc_q.lock_digests(conn, [d for _, _, d in page])
                removed += gc_q.remove_links(conn, page, cutoff)
            ctx.report(done=removed)
        return removed

    def _blobs_phase(self, ctx: JobContext, dry: bool, cutoff: datetime) -> tuple[int, int]:
        with self._db.read() as conn:
            total, size = gc_q.count_garbage_blobs(conn, cutoff)
        ctx.report(force=True, total=total, bytes_total=size)
        if dry or not total:
            return total, size
        removed = freed = 0
        # unlinking is disk-bound (a cold inode per blob): several at once, as the disk allows
        with ThreadPoolExecutor(UNLINKERS, thread_name_prefix="gc-unlink") as unlinker:
            for page in self._pages(
                ctx, lambda c, a: gc_q.garbage_blobs(c, cutoff, a, PAGE), lambda row: row[0]
            ):
                for start in range(0, len(page), SWEEP):  # short lock holds
                    batch = [d for d, _ in page[start : start + SWEEP]]
                    with self._db.transaction() as conn:
                        gc_q.lock_digests(conn, batch)
                        doomed = gc_q.delete_blobs(conn, batch, cutoff)
                        # the files go while the lock is held: an upload of the same digest
                        # waits, then finds neither row nor file and puts its own file in place
                        digests = [Digest.parse(d) for d, _ in doomed]
                        list(unlinker.map(self._blobs.delete, digests))
                    removed += len(doomed)
                    freed += sum(n for _, n in doomed)
                    ctx.report(done=removed, bytes_done=freed)
        return removed, freed

    def _files_phase(self, ctx: JobContext, dry: bool, cutoff: datetime) -> tuple[int, int]:
        """Blob files without a row, older than the grace period: a crash between an upload's
        move into place and its commit leaves one. Deleted under the lock, re-checked."""
        removed = freed = 0
        oldest = cutoff.timestamp()
        for found in self._blobs.stored():
            with self._db.read() as conn:
                rowless = gc_q.without_rows(conn, [str(d) for d in found])
            stale = [
                d
                for d in found
                if str(d) in rowless and (self._blobs.modified(d) or oldest) < oldest
            ]
            if not stale:
                continue
            sizes = {str(d): self._blobs.size(d) for d in stale if self._blobs.exists(d)}
            if dry:
                removed += len(sizes)
                freed += sum(sizes.values())
                continue
            with self._db.transaction() as conn:
                gc_q.lock_digests(conn, [str(d) for d in stale])
                still = gc_q.without_rows(conn, [str(d) for d in stale])
                for digest in stale:
                    if str(digest) in still and str(digest) in sizes:
                        self._blobs.delete(digest)
                        removed += 1
                        freed += sizes[str(digest)]
            ctx.report(orphan_files=removed)
        return removed, freed

    def _contents_phase(self, ctx: JobContext, dry: bool) -> int:
        removed = 0
        for page in self._pages(ctx, lambda c, a: gc_q.unnamed_contents(c, a, PAGE), str):
            if dry:
                removed += len(page)
            else:
                with self._db.transaction() as conn:
                    gc_q.lock_digests(conn, page)
                    removed += gc_q.delete_contents(conn, page)
            ctx.report(done=removed)
        return removed


# --- storage accounting --------------------------------------------------------------------


class StorageService:
    """Deduplicated bytes on disk, logical bytes per repository and per image."""

    def __init__(self, db: Database, names: NameResolver, evaluator: PermissionEvaluator) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator

    def summary(self) -> dict[str, Any]:
        with self._db.read() as conn:
            blobs, blob_bytes = gc_q.on_disk(conn)
            contents, content_bytes = gc_q.manifest_bytes_stored(conn)
            usage = gc_q.repository_usage(conn)
        by_id = {r.id: r for r in self._names.repositories()}
        repos = [
            _repository_entry(by_id[rid].key, by_id[rid].options.get("quota"), u)
            for rid, u in usage.items()
            if rid in by_id
        ]
        return {
            "on_disk": {
                "blobs": blobs,
                "blob_bytes": blob_bytes,
                "manifests": contents,
                "manifest_bytes": content_bytes,
                "bytes": blob_bytes + content_bytes,
            },
            "repositories": sorted(repos, key=lambda r: r["repository"]),
        }

    def repository(self, principal: Principal, key: str) -> dict[str, Any]:
        """One repository with its images: admins, and who may ``manage`` it (its quota)."""
        if not principal.is_admin and not self._evaluator.allowed_everywhere(
            principal, key, Action.MANAGE
        ):
            raise Denied(
                f"{principal.name} may not see the storage of repository {key!r}: that needs"
                " manage on it"
            )
        record = self._names.repository(key)
        if record is None:
            raise NotFound(f"no repository {key!r}")
        with self._db.read() as conn:
            usage = gc_q.repository_usage(conn, record.id).get(record.id, {})
            images = gc_q.image_usage(conn, record.id)
        entry = _repository_entry(key, record.options.get("quota"), usage)
        for image in images:
            image["logical_bytes"] = image["blob_bytes"] + image["manifest_bytes"]
        entry["images"] = images
        return entry


def _repository_entry(key: str, quota: object, usage: dict[str, int]) -> dict[str, Any]:
    entry: dict[str, Any] = {"repository": key}
    entry.update(
        {k: int(usage.get(k, 0)) for k in ("blobs", "blob_bytes", "manifests", "manifest_bytes")}
    )
    entry["logical_bytes"] = entry["blob_bytes"] + entry["manifest_bytes"]
    entry["quota"] = quota if isinstance(quota, int) and not isinstance(quota, bool) else None
    return entry

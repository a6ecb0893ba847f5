"""Garbage collection, accounting and job queries (``db/gc.py``, ``db/jobs.py``) on SQLite and
on a real PostgreSQL: what is live, what a page of garbage holds, that the sweep re-checks
under the lock, that the lock makes an upload wait for a sweep of the same digest, and that a
lease or a due schedule is won once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text, update

from tidegate.db import Database
from tidegate.db import content as cq
from tidegate.db import gc as gq
from tidegate.db import jobs as jq
from tidegate.db import repositories as rq
from tidegate.db import uploads as uq
from tidegate.db.tables import blobs, job_schedules, repository_blobs, uploads
from tidegate.errors import Conflict
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest
from tidegate.services.jobs import JobContext, JobService, Scheduler, Task

LONG_AGO = datetime.now(UTC) - timedelta(days=2)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def digest(label: str) -> str:
    return str(Digest.of(label.encode()))


def repo(db: Database, key: str) -> int:
    with db.transaction() as conn:
        return rq.create(conn, key, "local", None, {}).id


def blob(db: Database, rid: int, image: str, label: str, size: int, old: bool = True) -> str:
    d = digest(label)
    with db.transaction() as conn:
        cq.add_blob(conn, d, size)
        cq.link_blob(conn, rid, image, d)
        if old:
            conn.execute(update(blobs).where(blobs.c.digest == d).values(created_at=LONG_AGO))
            conn.execute(
                update(repository_blobs)
                .where(repository_blobs.c.digest == d)
                .values(created_at=LONG_AGO)
            )
    return d


def manifest(db: Database, rid: int, image: str, label: str, layers: list[str]) -> str:
    d = digest("manifest " + label)
    with db.transaction() as conn:
        cq.put_manifest(
            conn,
            repository_id=rid,
            image=image,
            digest=d,
            content=("manifest " + label).encode(),
            media_type=mt.OCI_MANIFEST,
            artifact_type=None,
            subject=None,
            annotations=None,
            pushed_by=None,
            blob_refs=layers,
            manifest_refs=[],
        )
    return d


def now() -> datetime:
    return datetime.now(UTC)


def garbage(db: Database, grace: float = 3600) -> list[tuple[str, int]]:
    with db.read() as conn:
        return gq.garbage_blobs(conn, now() - timedelta(seconds=grace), None, 1000)


def test_live_is_named_by_a_manifest_or_younger_than_the_grace_period(db: Database) -> None:
    dev, prod = repo(db, "dev"), repo(db, "prod")
    shared = blob(db, dev, "app", "shared", 10)
    blob(db, prod, "app", "shared", 10)
    only_dev = blob(db, dev, "app", "only-dev", 20)
    fresh = blob(db, dev, "app", "fresh", 30, old=False)
    orphan = blob(db, dev, "app", "orphan", 40)
    manifest(db, prod, "app", "v1", [shared])
    manifest(db, dev, "app", "v1", [only_dev])
    assert garbage(db) == [(orphan, 40)]
    assert fresh not in dict(garbage(db))
    assert dict(garbage(db, grace=0)) == {orphan: 40, fresh: 30}
    with db.read() as conn:
        assert gq.count_garbage_blobs(conn, now() - timedelta(hours=1)) == (1, 40)


def test_garbage_pages_cover_everything_once(db: Database) -> None:
    rid = repo(db, "dev")
    made = sorted(blob(db, rid, "app", f"b{i}", i) for i in range(25))
    seen: list[str] = []
    after = None
    with db.read() as conn:
        while True:
            page = gq.garbage_blobs(conn, now(), after, 7)
            if not page:
                break
            seen += [d for d, _ in page]
            after = page[-1][0]
    assert seen == made


def test_dangling_links_are_those_no_manifest_of_their_image_names(db: Database) -> None:
    dev = repo(db, "dev")
    used = blob(db, dev, "app", "used", 1)
    blob(db, dev, "other", "used", 1)  # same blob, linked into another image with no manifest
    loose = blob(db, dev, "app", "loose", 2)
    young = blob(db, dev, "app", "young", 3, old=False)
    manifest(db, dev, "app", "v1", [used])
    cutoff = now() - timedelta(hours=1)
    with db.read() as conn:
        dangling = gq.dangling_links(conn, cutoff, None, 100)
        assert gq.count_dangling_links(conn, cutoff) == 2
    assert sorted(dangling) == sorted([(dev, "other", used), (dev, "app", loose)])
    assert young not in [d for _, _, d in dangling]
    with db.transaction() as conn:
        gq.lock_digests(conn, [d for _, _, d in dangling])
        assert gq.remove_links(conn, dangling, cutoff) == 2
    with db.read() as conn:
        assert cq.linked_blob_size(conn, dev, "app", used) == 1
        assert cq.linked_blob_size(conn, dev, "other", used) is None


def test_the_sweep_re_checks_a_page_under_the_lock(db: Database) -> None:
    dev = repo(db, "dev")
    a = blob(db, dev, "app", "a", 5)
    b = blob(db, dev, "app", "b", 6)
    page = [d for d, _ in garbage(db)]
    assert sorted(page) == sorted([a, b])
    manifest(db, dev, "app", "late", [a])  # named after the listing: must survive
    cutoff = now() - timedelta(hours=1)
    with db.transaction() as conn:
        gq.lock_digests(conn, page)
        assert gq.delete_blobs(conn, page, cutoff) == [(b, 6)]
    with db.read() as conn:
        assert cq.blob_size(conn, a) == 5
        assert cq.blob_size(conn, b) is None
        assert cq.linked_blob_size(conn, dev, "app", b) is None


def test_unnamed_manifest_contents_are_found_and_deleted(db: Database) -> None:
    dev = repo(db, "dev")
    kept = manifest(db, dev, "app", "kept", [])
    gone = manifest(db, dev, "app", "gone", [])
    with db.transaction() as conn:
        cq.delete_manifest(conn, dev, "app", gone)
    with db.read() as conn:
        assert gq.unnamed_contents(conn, None, 100) == [gone]
    with db.transaction() as conn:
        gq.lock_digests(conn, [gone, kept])
        assert gq.delete_contents(conn, [gone, kept]) == 1
    with db.read() as conn:
        assert cq.manifest_content(conn, kept) is not None
        assert cq.manifest_content(conn, gone) is None


def test_stale_uploads_go_by_their_last_append(db: Database) -> None:
    dev = repo(db, "dev")
    with db.transaction() as conn:
        uq.create(conn, "a" * 32, dev, "app")
        uq.create(conn, "b" * 32, dev, "app")
        conn.execute(update(uploads).values(updated_at=LONG_AGO, created_at=LONG_AGO))
        uq.touch(conn, "b" * 32)  # a client still appends to b
    before = now() - timedelta(hours=1)
    with db.read() as conn:
        assert gq.stale_uploads(conn, before, None, 10) == ["a" * 32]
        assert gq.known_uploads(conn, ["a" * 32, "c" * 32]) == {"a" * 32}
    with db.transaction() as conn:
        assert gq.remove_uploads(conn, ["a" * 32, "b" * 32], before) == ["a" * 32]


def test_accounting_counts_each_blob_once_per_repository(db: Database) -> None:
    dev, prod = repo(db, "dev"), repo(db, "prod")
    layer = blob(db, dev, "app", "layer", 1000)
    blob(db, dev, "tool", "layer", 1000)  # the same bytes in a second image of dev
    config = blob(db, dev, "app", "config", 10)
    blob(db, prod, "app", "layer", 1000)
    m = manifest(db, dev, "app", "v1", [layer, config])
    size = len(b"manifest v1")
    with db.read() as conn:
        assert gq.on_disk(conn) == (2, 1010)
        usage = gq.repository_usage(conn)
        assert usage[dev] == {
            "blobs": 2,
            "blob_bytes": 1010,
            "manifests": 1,
            "manifest_bytes": size,
        }
        assert usage[prod]["blob_bytes"] == 1000
        assert gq.repository_logical_bytes(conn, dev) == 1010 + size
        images = {i["image"]: i for i in gq.image_usage(conn, dev)}
        assert images["app"]["blob_bytes"] == 1010 and images["app"]["manifest_bytes"] == size
        assert images["tool"]["blob_bytes"] == 1000 and images["tool"]["manifests"] == 0
        assert gq.unlinked(conn, prod, [layer, config, m]) == {config, m}
        assert gq.blob_sizes(conn, [layer, config]) == {layer: 1000, config: 10}


def test_an_upload_waits_for_a_sweep_of_the_same_digest_and_then_survives(db: Database) -> None:
    """The interleaving of docs/lifecycle.md: the sweep holds the digest's lock while it deletes
    the row (and the file); an upload commit of the same digest takes the lock, so it runs
    after the sweep and writes the row anew, never before it and then lost."""
    dev = repo(db, "dev")
    d = blob(db, dev, "app", "contested", 7)
    with db.transaction() as conn:
        cq.unlink_blob(conn, dev, "app", d)
    cutoff = now() - timedelta(hours=1)
    swept = threading.Event()
    uploaded: list[int | None] = []

    def upload() -> None:
        with db.transaction() as conn:
            gq.lock_digests(conn, [d])  # PostgreSQL: waits for the sweep's commit
            cq.add_blob(conn, d, 7)
            cq.link_blob(conn, dev, "app", d)
        with db.read() as conn:
            uploaded.append(cq.linked_blob_size(conn, dev, "app", d))

    with db.transaction() as conn:
        gq.lock_digests(conn, [d])
        if db.is_sqlite:
            assert gq.delete_blobs(conn, [d], cutoff) == [(d, 7)]
            swept.set()
        else:
            worker = threading.Thread(target=upload)
            worker.start()
            held = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            ).scalar()
            assert held == 1
            assert gq.delete_blobs(conn, [d], cutoff) == [(d, 7)]
            swept.set()
    if db.is_sqlite:
        upload()  # SQLite: BEGIN IMMEDIATE serialises the two transactions the same way
    else:
        worker.join()
    assert swept.is_set()
    assert uploaded == [7]
    with db.read() as conn:
        assert cq.blob_size(conn, d) == 7


def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    with db.transaction() as conn:
        assert jq.take_lease(conn, "job:gc", "w1", "j1", 100.0, 50.0)
    with db.transaction() as conn:
        assert not jq.take_lease(conn, "job:gc", "w2", "j2", 160.0, 60.0)
        assert jq.lease_holder(conn, "job:gc", 60.0) == "j1"
        assert jq.take_lease(conn, "job:gc", "w2", "j2", 260.0, 150.0)  # expired: taken over
        assert not jq.renew_lease(conn, "job:gc", "w1", 300.0)
        jq.release_lease(conn, "job:gc", "w2")
        assert jq.lease_holder(conn, "job:gc", 150.0) is None


def test_a_due_schedule_is_claimed_once(db: Database) -> None:
    with db.transaction() as conn:
        assert not jq.claim_due(conn, "gc", 60.0, 1000.0)  # first sighting: due in 60 s
    with db.transaction() as conn:
        assert not jq.claim_due(conn, "gc", 60.0, 1030.0)
    wins = []
    for _ in range(3):
        with db.transaction() as conn:
            wins.append(jq.claim_due(conn, "gc", 60.0, 1061.0))
    assert wins == [True, False, False]


def test_jobs_record_state_and_progress(db: Database) -> None:
    with db.transaction() as conn:
        jq.create(conn, "f" * 32, "gc", {"dry_run": True}, "admin", 1.0)
        jq.update_job(conn, "f" * 32, state="running", progress={"phase": "blobs", "done": 3})
    with db.read() as conn:
        row = jq.get(conn, "f" * 32)
        assert row is not None
        assert (row["state"], row["progress"], row["params"]) == (
            "running",
            {"phase": "blobs", "done": 3},
            {"dry_run": True},
        )
        assert [r["id"] for r in jq.latest(conn, "gc", 5)] == ["f" * 32]
        assert jq.get(conn, "0" * 32) is None


def test_a_job_runs_once_per_resource_and_reports_its_result(db: Database) -> None:
    jobs = JobService(db)
    other = JobService(db)  # another process of the deployment
    inside = threading.Event()
    release = threading.Event()

    def runner(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        ctx.report(force=True, phase="work", done=1, total=2)
        inside.set()
        release.wait(30)
        return {"echo": params["n"]}

    jobs.register("demo", runner)
    other.register("demo", runner)
    started = jobs.start("demo", {"n": 7}, "admin", "demo")
    inside.wait(30)
    with pytest.raises(Conflict) as refused:
        other.start("demo", {"n": 8}, "admin", "demo")
    assert started.id in refused.value.message
    running = other.get(started.id)
    assert (running.state, running.progress["phase"]) == ("running", "work")
    release.set()
    for _ in range(3000):  # the runner thread finishes right after release
        view = other.get(started.id)
        if view.state != "running":
            break
        threading.Event().wait(0.01)
    assert (view.state, view.result, view.error) == ("succeeded", {"echo": 7}, None)
    again = other.run("demo", {"n": 9}, "admin", "demo")  # the lease was released
    assert (again.state, again.result) == ("succeeded", {"echo": 9})


def test_a_failed_job_says_why(db: Database) -> None:
    jobs = JobService(db)

    def broken(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        raise Conflict("the store is on fire")

    jobs.register("broken", broken)
    view = jobs.run("broken", {}, "admin", "broken")
    assert (view.state, view.error) == ("failed", "the store is on fire")


def test_schedulers_in_every_worker_run_a_due_task_once(db: Database) -> None:
    ran: list[str] = []

    def task(name: str) -> Task:
        return Task("gc", 3600.0, lambda: ran.append(name))

    workers = [Scheduler(db, [task(name)]) for name in ("worker-1", "worker-2", "worker-3")]
    assert [w.tick() for w in workers] == [[], [], []]  # first sighting: due in an hour
    with db.transaction() as conn:  # an hour passes
        conn.execute(update(job_schedules).values(next_run_at=0.0))
    assert sum(len(w.tick()) for w in workers) == 1
    assert len(ran) == 1
    assert [w.tick() for w in workers] == [[], [], []]  # next due in an hour again

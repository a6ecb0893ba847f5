"""The remote cache's metadata (``db/remote.py``) on SQLite and on a real PostgreSQL: tag
freshness, the negative cache, fetch leases (one holder in the deployment), secrets."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tidegate.db import Database
from tidegate.db import content as q
from tidegate.db import remote as remote_q
from tidegate.db import repositories as repo_q


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def make_remote(db: Database) -> int:
    with db.transaction() as conn:
        return repo_q.create(conn, "hub", "remote", None, {"upstream": "https://r.example"}).id


def test_tag_freshness_is_kept_per_tag(db: Database) -> None:
    rid = make_remote(db)
    with db.transaction() as conn:
        q.add_blob(conn, "sha256:" + "c" * 64, 1)
        q.put_manifest(
            conn,
            repository_id=rid,
            image="library/alpine",
            digest="sha256:" + "a" * 64,
            content=b"{}",
            media_type="application/vnd.oci.image.manifest.v1+json",
            artifact_type=None,
            subject=None,
            annotations=None,
            pushed_by=None,
            blob_refs=[],
            manifest_refs=[],
        )
        q.set_tag(conn, rid, "library/alpine", "3.20", "sha256:" + "a" * 64)
    with db.read() as conn:
        assert remote_q.cached_tag(conn, rid, "library/alpine", "3.20") == (
            "sha256:" + "a" * 64,
            0.0,
        )
        assert remote_q.cached_tag(conn, rid, "library/alpine", "3.19") is None
    with db.transaction() as conn:
        remote_q.mark_checked(conn, rid, "library/alpine", "3.20", 100.0)
    with db.transaction() as conn:
        remote_q.mark_checked(conn, rid, "library/alpine", "3.20", 250.5)
    with db.read() as conn:
        assert remote_q.cached_tag(conn, rid, "library/alpine", "3.20") == (
            "sha256:" + "a" * 64,
            250.5,
        )


def test_negative_entries_expire(db: Database) -> None:
    rid = make_remote(db)
    with db.transaction() as conn:
        remote_q.set_negative(conn, rid, "nope", "1.0", 1000.0)
        remote_q.set_negative(conn, rid, "nope", "1.0", 2000.0)  # refreshed, not duplicated
    with db.read() as conn:
        assert remote_q.is_negative(conn, rid, "nope", "1.0", 1500.0)
        assert not remote_q.is_negative(conn, rid, "nope", "1.0", 2500.0)
        assert not remote_q.is_negative(conn, rid, "nope", "2.0", 1500.0)
    with db.transaction() as conn:
        remote_q.clear_negative(conn, rid, "nope", "1.0")
    with db.read() as conn:
        assert not remote_q.is_negative(conn, rid, "nope", "1.0", 1500.0)


def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    def take(holder: str, now: float = 100.0) -> bool:
        with db.transaction() as conn:
            return remote_q.take_lease(conn, "b|1|x|sha256:abc", holder, now + 30, now)

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(take, [f"p{i}" for i in range(8)]))
    assert won.count(True) == 1
    holder = f"p{won.index(True)}"
    with db.transaction() as conn:
        remote_q.describe_lease(conn, "b|1|x|sha256:abc", holder, "f" * 32, 1234)
    with db.read() as conn:
        assert remote_q.lease(conn, "b|1|x|sha256:abc") == (holder, "f" * 32, 1234, 130.0)
    assert not take("late", now=120.0)
    assert take("late", now=131.0)  # not renewed: taken over
    with db.transaction() as conn:
        remote_q.release_lease(conn, "b|1|x|sha256:abc", holder)  # not the holder any more
    with db.read() as conn:
        assert remote_q.lease(conn, "b|1|x|sha256:abc") == ("late", None, None, 161.0)
    with db.transaction() as conn:
        remote_q.release_lease(conn, "b|1|x|sha256:abc", "late")
    with db.read() as conn:
        assert remote_q.lease(conn, "b|1|x|sha256:abc") is None


def test_secrets_are_replaced_and_removed(db: Database) -> None:
    rid = make_remote(db)
    with db.transaction() as conn:
        remote_q.set_secret(conn, rid, remote_q.UPSTREAM_PASSWORD, "one")
        remote_q.set_secret(conn, rid, remote_q.UPSTREAM_PASSWORD, "two")
    with db.read() as conn:
        assert remote_q.get_secret(conn, rid, remote_q.UPSTREAM_PASSWORD) == "two"
    with db.transaction() as conn:
        remote_q.set_secret(conn, rid, remote_q.UPSTREAM_PASSWORD, None)
    with db.read() as conn:
        assert remote_q.get_secret(conn, rid, remote_q.UPSTREAM_PASSWORD) is None

"""Cleanup and trash queries, and the scheduled retention run, on SQLite and on a real
PostgreSQL server (the ``database_url`` fixture of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tidegate.auth.identity import IdentityState
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Principal
from tidegate.db import Database
from tidegate.db import cleanup as cleanq
from tidegate.db import content as cq
from tidegate.db import properties as propq
from tidegate.db import repositories as rq
from tidegate.db import trash as trashq
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.cleanup import CleanupService
from tidegate.services.names import NameResolver
from tidegate.services.retention_policies import RetentionPolicies
from tidegate.services.trash import TrashBin

IMAGE = "shop/cart"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
POLICY = {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 1}], "schedule": "1h"}


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


def put(db: Database, repository_id: int, label: str, tag: str) -> str:
    content = f'{{"n":"{label}"}}'.encode()
    d = str(Digest.of(content))
    with db.transaction() as conn:
        cq.put_manifest(
            conn,
            repository_id=repository_id,
            image=IMAGE,
            digest=d,
            content=content,
            media_type=mt.OCI_MANIFEST,
            artifact_type=None,
            subject=None,
            annotations=None,
            pushed_by="dave",
            blob_refs=[digest(f"layer-{label}")],
            manifest_refs=[],
        )
        cq.set_tag(conn, repository_id, IMAGE, tag, d)
        record = cq.get_manifest(conn, repository_id, IMAGE, d)
        assert record is not None
        propq.set_keys(conn, record.id, {"team": ["shop"]})
    return d


def test_trash_keeps_a_manifest_until_it_expires(db: Database) -> None:
    with db.transaction() as conn:
        repo = rq.create(conn, "dev", "local", "dev", {}).id
    d = put(db, repo, "a", "1.0")
    with db.transaction() as conn:
        entry = trashq.trash_manifest(
            conn,
            repository_id=repo,
            image=IMAGE,
            digest=d,
            deleted_by="dave",
            reason="test",
            plan_id=None,
            deleted_at=NOW,
            expires_at=NOW + timedelta(days=1),
        )
    assert entry is not None
    with db.read() as conn:
        assert cq.get_manifest(conn, repo, IMAGE, d) is None
        assert cq.tag_digest(conn, repo, IMAGE, "1.0") is None
        assert cq.manifest_content(conn, d) is not None  # the bytes stay
        record = trashq.get_entry(conn, entry)
        assert record is not None
        assert (record.tags, record.properties) == (["1.0"], {"team": ["shop"]})
        assert trashq.entry_references(conn, entry) == [(digest("layer-a"), "blob")]
    with db.transaction() as conn:
        assert trashq.purge_expired_trash(conn, NOW + timedelta(hours=23)) == 0
    with db.transaction() as conn:
        assert trashq.purge_expired_trash(conn, NOW + timedelta(days=1)) == 1
    with db.read() as conn:
        assert trashq.get_entry(conn, entry) is None
        assert trashq.entry_references(conn, entry) == []


def test_one_caller_wins_a_scheduled_run_and_a_plan_is_claimed_once(db: Database) -> None:
    with db.transaction() as conn:
        repo = rq.create(conn, "dev", "local", "dev", {}).id
    with db.transaction() as conn:
        assert cleanq.claim_run(conn, repo, None, 100.0)
    with db.transaction() as conn:
        assert not cleanq.claim_run(conn, repo, None, 100.0)
        assert cleanq.last_run(conn, repo) == 100.0
    with db.transaction() as conn:
        assert cleanq.claim_run(conn, repo, 100.0, 200.0)
    with db.transaction() as conn:
        assert not cleanq.claim_run(conn, repo, 100.0, 300.0)
    with db.transaction() as conn:
        cleanq.insert_plan(
            conn,
            {
                "id": "p1",
                "repository": "dev",
                "actor": "dave",
                "created_at": NOW,
                "expires_at": NOW + timedelta(days=1),
                "policy": {},
                "items": [],
                "refused": [],
                "state": "planned",
            },
        )
    with db.transaction() as conn:
        assert cleanq.claim_plan(conn, "p1", "dave", NOW)
    with db.transaction() as conn:
        assert not cleanq.claim_plan(conn, "p1", "erin", NOW)
    with db.read() as conn:
        plan = cleanq.get_plan(conn, "p1")
    assert plan is not None and plan["state"] == "applying" and plan["applied_by"] == "dave"
    assert plan["created_at"] == NOW


def service(db: Database) -> RetentionPolicies:
    names = NameResolver(db)
    evaluator = PermissionEvaluator(IdentityState(db))
    audit = AuditLog(db)
    cleanup = CleanupService(db, names, evaluator, audit, TrashBin(14))
    return RetentionPolicies(db, names, evaluator, audit, cleanup)


def test_scheduled_policies_run_when_due_and_never_in_protected_repositories(
    db: Database,
) -> None:
    with db.transaction() as conn:
        dev = rq.create(conn, "dev", "local", "dev", {"retention": POLICY}).id
        prod = rq.create(conn, "prod", "local", "prod", {"retention": POLICY}).id
        rq.create(conn, "test", "local", "test", {})
    for repo in (dev, prod):
        put(db, repo, f"{repo}-1", "1-SNAPSHOT")
        put(db, repo, f"{repo}-2", "2-SNAPSHOT")
        put(db, repo, f"{repo}-3", "3-SNAPSHOT")
    cleanup = service(db)

    # policies from the config file: their clock starts when the scheduler first sees them
    assert cleanup.run_scheduled(NOW - timedelta(hours=1)) == []
    results = {r["repository"]: r for r in cleanup.run_scheduled(NOW)}
    assert set(results) == {"dev", "prod"}  # test has no policy
    assert (results["dev"]["applied"], results["dev"]["refused"]) == (2, 0)
    assert (results["prod"]["applied"], results["prod"]["refused"]) == (0, 2)
    with db.read() as conn:
        assert cq.list_tags(conn, dev, IMAGE, None, None) == ["3-SNAPSHOT"]
        assert len(cq.list_tags(conn, prod, IMAGE, None, None)) == 3
        trashed = trashq.list_entries(conn, [dev, prod])
    assert {e.repository_id for e in trashed} == {dev}
    assert all(e.deleted_by == "tidegate-retention" for e in trashed)

    # not due again within the schedule, whichever process asks; due after it
    assert cleanup.run_scheduled(NOW) == []
    assert service(db).run_scheduled(NOW + timedelta(minutes=59)) == []
    put(db, dev, "dev-4", "4-SNAPSHOT")
    again = {r["repository"]: r for r in service(db).run_scheduled(NOW + timedelta(hours=1))}
    assert again["dev"]["applied"] == 1
    with db.read() as conn:
        assert cq.list_tags(conn, dev, IMAGE, None, None) == ["4-SNAPSHOT"]


def test_without_a_trash_deletions_are_final(db: Database) -> None:
    with db.transaction() as conn:
        repo = rq.create(conn, "dev", "local", "dev", {}).id
    d = put(db, repo, "gone", "1.0")
    with db.transaction() as conn:
        assert TrashBin(0).tag(conn, repo, IMAGE, "1.0", "dave", "test") == d
        assert TrashBin(0).manifest(conn, repo, IMAGE, d, "dave", "test")
        assert not TrashBin(0).manifest(conn, repo, IMAGE, d, "dave", "test")
    with db.read() as conn:
        assert cq.get_manifest(conn, repo, IMAGE, d) is None
        assert trashq.list_entries(conn, [repo]) == []


def test_setting_a_scheduled_policy_starts_its_clock_instead_of_running_it(db: Database) -> None:
    with db.transaction() as conn:
        dev = rq.create(conn, "dev", "local", "dev", {}).id
    put(db, dev, "dev-1", "1-SNAPSHOT")
    put(db, dev, "dev-2", "2-SNAPSHOT")
    cleanup = service(db)
    before = datetime.now(UTC)
    answer = cleanup.set_retention(Actor(Principal("user", "admin", is_admin=True)), "dev", POLICY)
    after = datetime.now(UTC)
    assert before + timedelta(hours=1) <= answer["next_run_at"] <= after + timedelta(hours=1)
    assert cleanup.retention("dev")["next_run_at"] == answer["next_run_at"]

    assert cleanup.run_scheduled(after) == []  # not at once
    assert cleanup.run_scheduled(after + timedelta(minutes=59)) == []
    with db.read() as conn:
        assert len(cq.list_tags(conn, dev, IMAGE, None, None)) == 2
    [result] = cleanup.run_scheduled(after + timedelta(hours=1))
    assert result["applied"] == 1

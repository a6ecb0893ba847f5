"""The metadata layer (tidegate.db), one suite run on SQLite and on a real PostgreSQL server.

Every test gets a fresh, migrated database through the ``database_url`` fixture of
tests/conftest.py. Query functions never commit: each test writes inside
``db.transaction()`` and reads back inside ``db.read()``, as the services do.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from tidegate.db import Database
from tidegate.db import access as aq
from tidegate.db import audit as auditq
from tidegate.db import content as cq
from tidegate.db import promotions as promq
from tidegate.db import properties as propq
from tidegate.db import repositories as rq
from tidegate.db import uploads as uq
from tidegate.db import users as userq
from tidegate.db.engine import MIGRATIONS
from tidegate.db.records import GrantRecord
from tidegate.db.tables import (
    access_tokens,
    group_members,
    manifest_contents,
    manifest_references,
    permission_grants,
    users,
)
from tidegate.db.tables import properties as properties_table
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest

IMAGE = "shop/cart"
FIVE_GIB = 5 * 1024**3


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def digest(label: str, algorithm: str = "sha256") -> str:
    return str(Digest.of(label.encode(), algorithm))


def make_repo(db: Database, key: str, kind: str = "local", stage: str | None = None) -> int:
    with db.transaction() as conn:
        return rq.create(conn, key, kind, stage, {}).id


def put_manifest(
    db: Database,
    repository_id: int,
    content: bytes,
    image: str = IMAGE,
    *,
    media_type: str = mt.OCI_MANIFEST,
    artifact_type: str | None = None,
    subject: str | None = None,
    annotations: dict[str, str] | None = None,
    blob_refs: tuple[str, ...] = (),
    manifest_refs: tuple[str, ...] = (),
) -> tuple[str, bool]:
    manifest_digest = str(Digest.of(content))
    with db.transaction() as conn:
        created = cq.put_manifest(
            conn,
            repository_id=repository_id,
            image=image,
            digest=manifest_digest,
            content=content,
            media_type=media_type,
            artifact_type=artifact_type,
            subject=subject,
            annotations=annotations,
            pushed_by="admin",
            blob_refs=blob_refs,
            manifest_refs=manifest_refs,
        )
    return manifest_digest, created


def set_tag(db: Database, repository_id: int, tag: str, target: str, image: str = IMAGE) -> None:
    with db.transaction() as conn:
        cq.set_tag(conn, repository_id, image, tag, target)


def count_rows(db: Database, table: Any, *where: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# --- schema and unit of work ------------------------------------------------------------------


def test_migrate_is_idempotent_and_keeps_rows(db: Database) -> None:
    make_repo(db, "dev")

    db.migrate()
    db.migrate()

    with db.read() as conn:
        assert [r.key for r in rq.list_all(conn)] == ["dev"]


def test_a_failed_transaction_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn:
        rq.create(conn, "dev", "local", None, {})
        raise RuntimeError("the push failed half way")

    with db.read() as conn:
        assert rq.get_by_key(conn, "dev") is None
        assert rq.count(conn) == 0


def test_an_open_read_does_not_block_a_write(db: Database) -> None:
    """A long read (a catalog listing, a pull) must not hold pushes back."""
    outcome: list[object] = []

    def write() -> None:
        try:
            with db.transaction() as conn:
                rq.create(conn, "written-during-read", "local", None, {})
            outcome.append("committed")
        except Exception as exc:  # reported below
            outcome.append(exc)

    with db.read() as conn:
        assert rq.count(conn) == 0
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=1)
        finished_during_read = not writer.is_alive()
    writer.join()

    assert outcome == ["committed"]
    assert finished_during_read, "the write waited for the read to end"


# --- hot-path reads (Database.fast) -----------------------------------------------------------


def test_hot_path_reads_agree_with_the_query_module(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    content = b'{"hot": "path"}'
    manifest_digest, _ = put_manifest(db, dev, content)
    set_tag(db, dev, "1.0", manifest_digest)
    layer = digest("layer")
    with db.transaction() as conn:
        cq.add_blob(conn, layer, FIVE_GIB)
        cq.link_blob(conn, dev, IMAGE, layer)
    expected = (manifest_digest, mt.OCI_MANIFEST, content)

    assert db.fast.resolve_manifest(dev, IMAGE, "1.0", by_digest=False) == expected
    assert db.fast.resolve_manifest(dev, IMAGE, manifest_digest, by_digest=True) == expected
    assert db.fast.resolve_manifest(dev, IMAGE, "2.0", by_digest=False) is None
    assert db.fast.resolve_manifest(prod, IMAGE, manifest_digest, by_digest=True) is None
    assert db.fast.resolve_manifest(dev, "shop/other", "1.0", by_digest=False) is None
    assert db.fast.linked_blob_size(dev, IMAGE, layer) == FIVE_GIB
    assert db.fast.linked_blob_size(prod, IMAGE, layer) is None
    assert db.fast.linked_blob_size(dev, "shop/other", layer) is None


def test_a_failed_transaction_leaves_nothing_after_hot_path_reads(db: Database) -> None:
    """A manifest or blob GET between two pushes must not weaken the next push's atomicity."""
    dev = make_repo(db, "dev")
    db.fast.linked_blob_size(dev, IMAGE, digest("layer"))

    with pytest.raises(RuntimeError), db.transaction() as conn:
        rq.create(conn, "half", "local", None, {})
        raise RuntimeError("the push failed half way")

    with db.read() as conn:
        assert rq.get_by_key(conn, "half") is None


def test_hot_path_reads_see_only_committed_rows(db: Database) -> None:
    dev = make_repo(db, "dev")
    layer = digest("layer")
    assert db.fast.linked_blob_size(dev, IMAGE, layer) is None

    with db.transaction() as conn:
        cq.add_blob(conn, layer, 7)
        cq.link_blob(conn, dev, IMAGE, layer)
        assert db.fast.linked_blob_size(dev, IMAGE, layer) is None  # not committed yet

    assert db.fast.linked_blob_size(dev, IMAGE, layer) == 7


# --- repositories ---------------------------------------------------------------------------


def test_repositories_create_get_list_count_and_unique_keys(db: Database) -> None:
    options = {"allow_push": False, "gate": {"from": ["dev"], "require": ["qa.uat=passed"]}}
    with db.transaction() as conn:
        assert rq.count(conn) == 0
        test = rq.create(conn, "test", "local", "test", options)
        dev = rq.create(conn, "dev", "local", "dev", {})
        hub = rq.create(conn, "hub", "remote", None, {"upstream": "https://registry-1.docker.io"})

    assert len({test.id, dev.id, hub.id}) == 3
    with db.read() as conn:
        assert rq.count(conn) == 3
        assert rq.get_by_key(conn, "test") == test
        assert rq.get_by_key(conn, "test").options == options  # type: ignore[union-attr]
        assert rq.get_by_key(conn, "hub") == hub
        assert rq.get_by_key(conn, "missing") is None
        assert [r.key for r in rq.list_all(conn)] == ["dev", "hub", "test"]
        assert rq.list_all(conn)[0] == dev

    with pytest.raises(IntegrityError), db.transaction() as conn:
        rq.create(conn, "dev", "local", None, {})  # keys are unique
    with db.read() as conn:
        assert rq.count(conn) == 3


# --- blobs -----------------------------------------------------------------------------------


def test_add_blob_twice_is_idempotent_and_keeps_large_sizes(db: Database) -> None:
    layer = digest("layer", "sha512")
    with db.transaction() as conn:
        cq.add_blob(conn, layer, FIVE_GIB)
    with db.transaction() as conn:
        cq.add_blob(conn, layer, FIVE_GIB)

    with db.read() as conn:
        assert cq.blob_size(conn, layer) == FIVE_GIB
        assert cq.blob_size(conn, digest("unknown")) is None


def test_linked_blob_is_served_only_by_its_repository_and_image(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    layer = digest("layer")
    with db.transaction() as conn:
        cq.add_blob(conn, layer, 1234)
        cq.link_blob(conn, dev, IMAGE, layer)
        cq.link_blob(conn, dev, IMAGE, layer)  # twice: idempotent

    with db.read() as conn:
        assert cq.linked_blob_size(conn, dev, IMAGE, layer) == 1234
        assert cq.linked_blob_size(conn, dev, "shop/other", layer) is None
        assert cq.linked_blob_size(conn, prod, IMAGE, layer) is None
        assert cq.linked_blob_size(conn, dev, IMAGE, digest("unknown")) is None

    with pytest.raises(IntegrityError), db.transaction() as conn:
        cq.link_blob(conn, dev, IMAGE, digest("never added"))  # a link needs a known blob


def test_unlink_blob_withdraws_access_and_keeps_the_blob(db: Database) -> None:
    dev = make_repo(db, "dev")
    layer = digest("layer")
    with db.transaction() as conn:
        cq.add_blob(conn, layer, 10)
        cq.link_blob(conn, dev, IMAGE, layer)
        cq.link_blob(conn, dev, "shop/other", layer)

    with db.transaction() as conn:
        assert cq.unlink_blob(conn, dev, IMAGE, layer) is True
    with db.transaction() as conn:
        assert cq.unlink_blob(conn, dev, IMAGE, layer) is False

    with db.read() as conn:
        assert cq.linked_blob_size(conn, dev, IMAGE, layer) is None
        assert cq.linked_blob_size(conn, dev, "shop/other", layer) == 10
        assert cq.blob_size(conn, layer) == 10


def test_linked_blobs_returns_the_linked_subset(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    a, b, c = digest("a"), digest("b"), digest("c")
    with db.transaction() as conn:
        for d in (a, b, c):
            cq.add_blob(conn, d, 1)
        cq.link_blob(conn, dev, IMAGE, a)
        cq.link_blob(conn, dev, IMAGE, b)
        cq.link_blob(conn, prod, IMAGE, c)

    with db.read() as conn:
        assert cq.linked_blobs(conn, dev, IMAGE, [a, b, c, digest("x"), a]) == {a, b}
        assert cq.linked_blobs(conn, prod, IMAGE, [a, b, c]) == {c}
        assert cq.linked_blobs(conn, dev, "shop/other", [a, b]) == set()
        assert cq.linked_blobs(conn, dev, IMAGE, []) == set()


def test_blob_holders_lists_every_repository_and_image(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    shared, alone = digest("shared"), digest("alone")
    with db.transaction() as conn:
        cq.add_blob(conn, shared, 1)
        cq.add_blob(conn, alone, 1)
        cq.link_blob(conn, dev, IMAGE, shared)
        cq.link_blob(conn, dev, "shop/other", shared)
        cq.link_blob(conn, prod, IMAGE, shared)
        cq.link_blob(conn, dev, IMAGE, alone)

    with db.read() as conn:
        holders = cq.blob_holders(conn, shared)
        assert sorted(holders) == sorted([(dev, IMAGE), (dev, "shop/other"), (prod, IMAGE)])
        assert len(cq.blob_holders(conn, shared, limit=2)) == 2
        assert cq.blob_holders(conn, alone) == [(dev, IMAGE)]
        assert cq.blob_holders(conn, digest("nobody")) == []


# --- manifests -------------------------------------------------------------------------------


def test_put_manifest_stores_it_once(db: Database) -> None:
    dev = make_repo(db, "dev")
    content = b'{"schemaVersion":2,"config":{}}'
    annotations = {"org.opencontainers.image.title": "cart ✓"}

    manifest_digest, created = put_manifest(
        db, dev, content, artifact_type="application/x.sbom", annotations=annotations
    )
    again_digest, created_again = put_manifest(db, dev, content)

    assert created is True
    assert created_again is False
    assert again_digest == manifest_digest
    with db.read() as conn:
        record = cq.get_manifest(conn, dev, IMAGE, manifest_digest)
        assert record is not None
        assert (record.repository_id, record.image, record.digest) == (dev, IMAGE, manifest_digest)
        assert record.media_type == mt.OCI_MANIFEST
        assert record.artifact_type == "application/x.sbom"
        assert record.subject is None
        assert record.size == len(content)
        assert record.annotations == annotations
        assert cq.get_manifest(conn, dev, "shop/other", manifest_digest) is None
        assert cq.manifest_content(conn, manifest_digest) == content
        assert cq.count_manifests(conn) == 1


def test_resolve_manifest_by_tag_and_by_digest(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    content = b'{"image": "cart 1.0"}'
    manifest_digest, _ = put_manifest(db, dev, content, media_type=mt.DOCKER_MANIFEST)
    set_tag(db, dev, "1.0", manifest_digest)
    set_tag(db, dev, "1.0", manifest_digest, image="shop/other")  # tag in another image

    expected = (manifest_digest, mt.DOCKER_MANIFEST, content)
    fast = db.fast  # the hot path that serves manifest GET/HEAD
    assert fast.resolve_manifest(dev, IMAGE, "1.0", by_digest=False) == expected
    assert fast.resolve_manifest(dev, IMAGE, manifest_digest, by_digest=True) == expected
    assert fast.resolve_manifest(dev, IMAGE, "2.0", by_digest=False) is None
    assert fast.resolve_manifest(dev, IMAGE, digest("x"), by_digest=True) is None
    # the manifest lives only in dev/shop/cart
    assert fast.resolve_manifest(dev, "shop/other", "1.0", by_digest=False) is None
    assert fast.resolve_manifest(dev, "shop/other", manifest_digest, True) is None
    assert fast.resolve_manifest(prod, IMAGE, "1.0", by_digest=False) is None
    assert fast.resolve_manifest(prod, IMAGE, manifest_digest, by_digest=True) is None


def test_existing_manifests_returns_the_present_subset(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    one, _ = put_manifest(db, dev, b"one")
    two, _ = put_manifest(db, dev, b"two")
    three, _ = put_manifest(db, prod, b"three")

    with db.read() as conn:
        assert cq.existing_manifests(conn, dev, IMAGE, [one, two, three, one]) == {one, two}
        assert cq.existing_manifests(conn, prod, IMAGE, [one, two, three]) == {three}
        assert cq.existing_manifests(conn, dev, "shop/other", [one]) == set()
        assert cq.existing_manifests(conn, dev, IMAGE, []) == set()


def test_manifest_content_is_shared_across_repositories(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    content = b'{"promoted": true}'
    manifest_digest, created_dev = put_manifest(db, dev, content)
    _, created_prod = put_manifest(db, prod, content)

    assert created_dev and created_prod
    assert count_rows(db, manifest_contents) == 1

    with db.transaction() as conn:
        assert cq.delete_manifest(conn, dev, IMAGE, manifest_digest) is True
    with db.read() as conn:
        assert db.fast.resolve_manifest(dev, IMAGE, manifest_digest, by_digest=True) is None
        resolved = db.fast.resolve_manifest(prod, IMAGE, manifest_digest, by_digest=True)
        assert resolved == (manifest_digest, mt.OCI_MANIFEST, content)
        assert cq.manifest_content(conn, manifest_digest) == content
        assert cq.manifest_content(conn, digest("never pushed")) is None


def test_referrers_with_and_without_artifact_type(db: Database) -> None:
    dev = make_repo(db, "dev")
    subject, _ = put_manifest(db, dev, b"the image")
    sbom, _ = put_manifest(db, dev, b"sbom", artifact_type="application/spdx+json", subject=subject)
    sig, _ = put_manifest(db, dev, b"sig", artifact_type="application/x.sig", subject=subject)
    put_manifest(db, dev, b"unrelated", artifact_type="application/spdx+json")
    put_manifest(db, dev, b"other image", "shop/other", subject=subject)

    with db.read() as conn:
        every = cq.referrers(conn, dev, IMAGE, subject, None)
        assert [r.digest for r in every] == sorted([sbom, sig])
        assert {r.artifact_type for r in every} == {"application/spdx+json", "application/x.sig"}
        assert all(r.subject == subject for r in every)
        sboms = cq.referrers(conn, dev, IMAGE, subject, "application/spdx+json")
        assert [r.digest for r in sboms] == [sbom]
        assert cq.referrers(conn, dev, IMAGE, subject, "application/x.none") == []
        assert cq.referrers(conn, dev, IMAGE, digest("no referrers"), None) == []


def test_delete_manifest_removes_its_tags_and_references(db: Database) -> None:
    dev = make_repo(db, "dev")
    config, layer, child = digest("config"), digest("layer"), digest("child")
    doomed, _ = put_manifest(db, dev, b"doomed", blob_refs=(config, layer, layer))
    index, _ = put_manifest(
        db, dev, b"index", media_type=mt.OCI_INDEX, manifest_refs=(doomed, child)
    )
    set_tag(db, dev, "1.0", doomed)
    set_tag(db, dev, "latest", doomed)
    set_tag(db, dev, "multi", index)
    with db.read() as conn:
        doomed_id = cq.get_manifest(conn, dev, IMAGE, doomed).id  # type: ignore[union-attr]
        index_id = cq.get_manifest(conn, dev, IMAGE, index).id  # type: ignore[union-attr]
    references = manifest_references.c.manifest_id
    assert count_rows(db, manifest_references, references == doomed_id) == 2
    assert count_rows(db, manifest_references, references == index_id) == 2

    with db.transaction() as conn:
        assert cq.delete_manifest(conn, dev, IMAGE, doomed) is True
    with db.transaction() as conn:
        assert cq.delete_manifest(conn, dev, IMAGE, doomed) is False

    with db.read() as conn:
        assert cq.get_manifest(conn, dev, IMAGE, doomed) is None
        assert cq.tag_digest(conn, dev, IMAGE, "1.0") is None
        assert cq.tag_digest(conn, dev, IMAGE, "latest") is None
        assert cq.list_tags(conn, dev, IMAGE, None, None) == ["multi"]
        assert db.fast.resolve_manifest(dev, IMAGE, "multi", by_digest=False) is not None
    assert count_rows(db, manifest_references, references == doomed_id) == 0
    assert count_rows(db, manifest_references, references == index_id) == 2


# --- tags ------------------------------------------------------------------------------------


def test_set_tag_returns_the_previous_digest(db: Database) -> None:
    dev = make_repo(db, "dev")
    first, second = digest("first"), digest("second")

    with db.transaction() as conn:
        assert cq.set_tag(conn, dev, IMAGE, "latest", first) is None
    with db.transaction() as conn:
        assert cq.set_tag(conn, dev, IMAGE, "latest", second) == first
    with db.transaction() as conn:
        assert cq.set_tag(conn, dev, IMAGE, "latest", second) == second

    with db.read() as conn:
        assert cq.tag_digest(conn, dev, IMAGE, "latest") == second
        assert cq.tag_digest(conn, dev, IMAGE, "missing") is None
        assert cq.tag_digest(conn, dev, "shop/other", "latest") is None


def test_list_tags_is_sorted_and_paginated(db: Database) -> None:
    dev = make_repo(db, "dev")
    names = ["v1.10", "latest", "V2", "v1.2", "1.0", "v1-rc", "_x", "v1_rc"]
    for name in names:
        set_tag(db, dev, name, digest(name))
    set_tag(db, dev, "elsewhere", digest("x"), image="shop/other")
    ordered = sorted(names)  # byte order, as the distribution spec's tag list expects

    with db.read() as conn:
        assert cq.list_tags(conn, dev, IMAGE, None, None) == ordered
        assert cq.list_tags(conn, dev, IMAGE, None, 3) == ordered[:3]
        assert cq.list_tags(conn, dev, IMAGE, ordered[2], 3) == ordered[3:6]
        assert cq.list_tags(conn, dev, IMAGE, ordered[-1], None) == []
        assert cq.list_tags(conn, dev, IMAGE, "a-not-a-tag", None) == [
            n for n in ordered if n > "a-not-a-tag"
        ]
        assert cq.list_tags(conn, dev, "shop/other", None, None) == ["elsewhere"]
        assert cq.list_tags(conn, dev, "shop/none", None, None) == []


def test_list_tags_for_a_digest_and_delete_tag(db: Database) -> None:
    dev = make_repo(db, "dev")
    target, other = digest("target"), digest("other")
    for tag in ("1.0", "1", "latest"):
        set_tag(db, dev, tag, target)
    set_tag(db, dev, "old", other)
    set_tag(db, dev, "1.0", target, image="shop/other")

    with db.read() as conn:
        assert sorted(cq.list_tags_for(conn, dev, IMAGE, target)) == ["1", "1.0", "latest"]
        assert cq.list_tags_for(conn, dev, IMAGE, digest("none")) == []

    with db.transaction() as conn:
        assert cq.delete_tag(conn, dev, IMAGE, "latest") is True
    with db.transaction() as conn:
        assert cq.delete_tag(conn, dev, IMAGE, "latest") is False

    with db.read() as conn:
        assert sorted(cq.list_tags_for(conn, dev, IMAGE, target)) == ["1", "1.0"]
        assert cq.tag_digest(conn, dev, "shop/other", "1.0") == target


# --- images ----------------------------------------------------------------------------------


def test_image_exists_while_it_holds_a_manifest_or_a_blob(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    layer = digest("layer")

    with db.read() as conn:
        assert not cq.image_exists(conn, dev, IMAGE)

    with db.transaction() as conn:
        cq.add_blob(conn, layer, 1)
        cq.link_blob(conn, dev, "shop/blob-only", layer)
    put_manifest(db, dev, b"manifest")

    with db.read() as conn:
        assert cq.image_exists(conn, dev, IMAGE)
        assert cq.image_exists(conn, dev, "shop/blob-only")
        assert not cq.image_exists(conn, dev, "shop/none")
        assert not cq.image_exists(conn, prod, IMAGE)


def test_list_images_across_repositories_sorted_and_paginated(db: Database) -> None:
    dev, prod, test = make_repo(db, "dev"), make_repo(db, "prod"), make_repo(db, "test")
    put_manifest(db, prod, b"a", "shop/cart")
    put_manifest(db, dev, b"b", "shop/cart")
    put_manifest(db, dev, b"c", "shop/cart")  # two manifests, one image
    put_manifest(db, dev, b"d", "alpine")
    put_manifest(db, dev, b"e", "shop/cart/debug")
    put_manifest(db, test, b"f", "hidden")  # a repository the caller does not ask for
    with db.transaction() as conn:
        cq.add_blob(conn, digest("blob"), 1)
        cq.link_blob(conn, dev, "blob-only", digest("blob"))  # no manifest: not listed
    keys = {dev: "dev", prod: "prod"}
    everything = ["dev/alpine", "dev/shop/cart", "dev/shop/cart/debug", "prod/shop/cart"]

    with db.read() as conn:
        assert cq.list_images(conn, keys, None, None) == everything
        assert cq.list_images(conn, keys, None, 2) == everything[:2]
        assert cq.list_images(conn, keys, "dev/shop/cart", 2) == everything[2:4]
        assert cq.list_images(conn, keys, "prod/shop/cart", None) == []
        assert cq.list_images(conn, {}, None, None) == []


# --- uploads, users, secrets ----------------------------------------------------------------


def test_uploads_create_get_remove(db: Database) -> None:
    dev = make_repo(db, "dev")
    upload_id = "0123456789abcdef0123456789abcdef"
    with db.transaction() as conn:
        uq.create(conn, upload_id, dev, IMAGE)

    with db.read() as conn:
        record = uq.get(conn, upload_id)
        assert record is not None
        assert (record.id, record.repository_id, record.image) == (upload_id, dev, IMAGE)
        assert record.created_at is not None
        assert uq.get(conn, "f" * 32) is None

    with db.transaction() as conn:
        uq.touch(conn, upload_id)
        assert uq.remove(conn, upload_id) is True
    with db.transaction() as conn:
        assert uq.remove(conn, upload_id) is False
    with db.read() as conn:
        assert uq.get(conn, upload_id) is None


def test_users_create_get_and_unique_usernames(db: Database) -> None:
    with db.transaction() as conn:
        admin_id = userq.create(conn, "admin", "$argon2id$hash-a", is_admin=True)
        dev_id = userq.create(conn, "dev.user", "$argon2id$hash-b", is_admin=False)

    assert admin_id != dev_id
    with db.read() as conn:
        admin = userq.get_by_username(conn, "admin")
        developer = userq.get_by_username(conn, "dev.user")
        assert admin is not None and developer is not None
        assert (admin.id, admin.password_hash) == (admin_id, "$argon2id$hash-a")
        assert admin.is_admin is True
        assert developer.id == dev_id
        assert developer.is_admin is False
        assert userq.get_by_username(conn, "nobody") is None
        assert userq.get_by_username(conn, "Admin") is None

    with pytest.raises(IntegrityError), db.transaction() as conn:
        userq.create(conn, "admin", "other", is_admin=False)  # usernames are unique


def test_secrets_get_and_set(db: Database) -> None:
    with db.read() as conn:
        assert userq.get_secret(conn, "token_signing_key") is None

    with db.transaction() as conn:
        userq.set_secret(conn, "token_signing_key", "s" * 64)

    with db.read() as conn:
        assert userq.get_secret(conn, "token_signing_key") == "s" * 64
        assert userq.get_secret(conn, "other") is None


# --- identity and access (migration 0002) ---------------------------------------------------

IDENTITY_TABLES = {
    "groups",
    "group_members",
    "access_tokens",
    "permission_targets",
    "permission_grants",
    "auth_state",
    "audit_events",
}
T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """SQLite gives timezone-aware columns back naive (in UTC); PostgreSQL aware."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def alembic(db: Database, direction: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)


def table_names(db: Database) -> set[str]:
    with db.read() as conn:
        return set(inspect(conn).get_table_names())


def user_columns(db: Database) -> dict[str, bool]:
    """users column -> nullable."""
    with db.read() as conn:
        return {c["name"]: bool(c["nullable"]) for c in inspect(conn).get_columns("users")}


def test_migration_0002_upgrades_an_issue_2_database_and_downgrades(database_url: str) -> None:
    db = Database(database_url)
    try:
        alembic(db, "upgrade", "0001")
        with db.transaction() as conn:
            rq.create(conn, "dev", "local", "dev", {})
            conn.execute(  # the users table of 0001
                insert(users).values(
                    username="admin", password_hash="$argon2id$old", is_admin=True, created_at=T0
                )
            )
        assert not IDENTITY_TABLES & table_names(db)

        alembic(db, "upgrade", "head")

        assert table_names(db) >= IDENTITY_TABLES
        assert user_columns(db)["password_hash"] is True
        with db.read() as conn:
            [admin] = userq.list_users(conn)
            assert aq.auth_generation(conn) == 1
        assert (admin.username, admin.password_hash, admin.is_admin) == (
            "admin",
            "$argon2id$old",
            True,
        )
        assert (admin.kind, admin.disabled, admin.description) == ("user", False, None)
        with db.transaction() as conn:  # the new columns work: a service account, no password
            bot = userq.create(conn, "ci-bot", None, is_admin=False, kind="service")
            userq.create_group(conn, "ci", None)
        with db.transaction() as conn:  # a service account cannot exist before 0002
            userq.delete_user(conn, bot)

        alembic(db, "downgrade", "0001")

        assert not IDENTITY_TABLES & table_names(db)
        columns = user_columns(db)
        assert set(columns) == {"id", "username", "password_hash", "is_admin", "created_at"}
        assert columns["password_hash"] is False
        with db.read() as conn:
            row = conn.execute(select(users.c.username, users.c.password_hash)).one()
            assert tuple(row) == ("admin", "$argon2id$old")
            assert rq.get_by_key(conn, "dev") is not None

        db.migrate()  # and up again

        assert table_names(db) >= IDENTITY_TABLES
        with db.read() as conn:
            assert aq.auth_generation(conn) == 1
            assert [u.username for u in userq.list_users(conn)] == ["admin"]
    finally:
        db.dispose()


def test_auth_generation_counts_committed_changes(db: Database) -> None:
    with db.read() as conn:
        start = aq.auth_generation(conn)

    with db.transaction() as conn:
        aq.bump_auth_generation(conn)
        aq.bump_auth_generation(conn)
    with pytest.raises(RuntimeError), db.transaction() as conn:
        aq.bump_auth_generation(conn)
        raise RuntimeError("the change failed")

    with db.read() as conn:
        assert aq.auth_generation(conn) == start + 2


def test_service_accounts_have_no_password_and_users_list_by_kind(db: Database) -> None:
    with db.transaction() as conn:
        admin = userq.create(conn, "admin", "$argon2id$a", is_admin=True)
        bot = userq.create(conn, "ci-bot", None, False, kind="service", description="CI ✓")
        userq.create(conn, "alice", "$argon2id$b", is_admin=False)

    with db.read() as conn:
        robot = userq.get_by_username(conn, "ci-bot")
        assert robot is not None
        assert (robot.id, robot.kind, robot.password_hash) == (bot, "service", None)
        assert (robot.is_admin, robot.disabled, robot.description) == (False, False, "CI ✓")
        assert robot.created_at is not None
        assert [u.username for u in userq.list_users(conn)] == ["admin", "alice", "ci-bot"]
        assert [u.username for u in userq.list_users(conn, "user")] == ["admin", "alice"]
        assert [u.username for u in userq.list_users(conn, "service")] == ["ci-bot"]
        assert userq.get_by_username(conn, "admin").kind == "user"  # type: ignore[union-attr]
        assert userq.count_admins(conn) == 1
    assert admin != bot


def test_update_user_and_count_admins(db: Database) -> None:
    with db.transaction() as conn:
        admin = userq.create(conn, "admin", "$argon2id$a", is_admin=True)
        alice = userq.create(conn, "alice", "$argon2id$b", is_admin=False)

    with db.transaction() as conn:
        userq.update_user(conn, alice, is_admin=True, password_hash="$argon2id$c")
        userq.update_user(conn, alice, description="QA lead")
        userq.update_user(conn, alice)  # nothing to set
    with db.read() as conn:
        record = userq.get_by_username(conn, "alice")
        assert record is not None
        assert (record.is_admin, record.password_hash) == (True, "$argon2id$c")
        assert record.description == "QA lead"
        assert userq.count_admins(conn) == 2

    with db.transaction() as conn:
        userq.update_user(conn, admin, disabled=True)  # a disabled admin does not count
    with db.read() as conn:
        assert userq.get_by_username(conn, "admin").disabled is True  # type: ignore[union-attr]
        assert userq.count_admins(conn) == 1


def test_groups_and_memberships(db: Database) -> None:
    with db.transaction() as conn:
        alice = userq.create(conn, "alice", "$argon2id$a", is_admin=False)
        bot = userq.create(conn, "ci-bot", None, is_admin=False, kind="service")
        testers = userq.create_group(conn, "testers", "QA ✓")
        ci = userq.create_group(conn, "ci", None)
        developers = userq.create_group(conn, "developers", None)

    with db.read() as conn:
        assert [g.name for g in userq.list_groups(conn)] == ["ci", "developers", "testers"]
        group = userq.get_group(conn, "testers")
        assert group is not None
        assert (group.id, group.description) == (testers, "QA ✓")
        assert group.created_at is not None
        assert userq.get_group(conn, "nope") is None
        assert userq.memberships(conn) == []

    with db.transaction() as conn:
        assert userq.add_member(conn, testers, alice) is True
        assert userq.add_member(conn, testers, alice) is False  # already a member
        assert userq.add_member(conn, ci, bot) is True
        assert userq.add_member(conn, testers, bot) is True
    with db.read() as conn:
        assert sorted(userq.memberships(conn)) == sorted(
            [(testers, alice), (ci, bot), (testers, bot)]
        )

    with db.transaction() as conn:
        assert userq.remove_member(conn, testers, bot) is True
        assert userq.remove_member(conn, testers, bot) is False
        userq.set_memberships(conn, alice, [ci, developers])  # replaces testers
    with db.read() as conn:
        assert sorted(userq.memberships(conn)) == sorted(
            [(ci, alice), (developers, alice), (ci, bot)]
        )

    with db.transaction() as conn:
        userq.set_memberships(conn, alice, [])
    with db.read() as conn:
        assert userq.memberships(conn) == [(ci, bot)]

    with pytest.raises(IntegrityError), db.transaction() as conn:
        userq.create_group(conn, "ci", None)  # group names are unique
    with pytest.raises(IntegrityError), db.transaction() as conn:
        userq.add_member(conn, ci, 9999)  # a member must exist


def make_token(
    db: Database, token_id: str, user_id: int, name: str = "t", *, created: datetime = T0
) -> None:
    with db.transaction() as conn:
        aq.create_token(
            conn, token_id, user_id, name, "$argon2id$s", created, created + timedelta(days=90)
        )


def test_access_tokens_create_get_list_and_revoke(db: Database) -> None:
    with db.transaction() as conn:
        alice = userq.create(conn, "alice", "$argon2id$a", is_admin=False)
        bot = userq.create(conn, "ci-bot", None, is_admin=False, kind="service")
    make_token(db, "bbbbbbbbbbbb", alice, "laptop", created=T0 + timedelta(hours=1))
    make_token(db, "aaaaaaaaaaaa", alice, "ci", created=T0)
    make_token(db, "cccccccccccc", bot, "deploy", created=T0)

    with db.read() as conn:
        token = aq.get_token(conn, "bbbbbbbbbbbb")
        assert token is not None
        assert (token.id, token.user_id, token.name, token.secret_hash) == (
            "bbbbbbbbbbbb",
            alice,
            "laptop",
            "$argon2id$s",
        )
        assert utc(token.created_at) == T0 + timedelta(hours=1)
        assert utc(token.expires_at) == T0 + timedelta(hours=1, days=90)
        assert token.revoked_at is None
        assert aq.get_token(conn, "nonexistent0") is None
        assert [t.id for t in aq.list_tokens(conn, alice)] == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
        assert [t.id for t in aq.list_tokens(conn, bot)] == ["cccccccccccc"]
        assert [t.id for t in aq.list_tokens(conn)] == [
            "aaaaaaaaaaaa",
            "cccccccccccc",
            "bbbbbbbbbbbb",
        ]

    revoked_at = T0 + timedelta(days=2)
    with db.transaction() as conn:
        assert aq.revoke_token(conn, "aaaaaaaaaaaa", revoked_at) is True
    with db.transaction() as conn:
        assert aq.revoke_token(conn, "aaaaaaaaaaaa", revoked_at + timedelta(days=1)) is False
        assert aq.revoke_token(conn, "nonexistent0", revoked_at) is False
    with db.read() as conn:
        token = aq.get_token(conn, "aaaaaaaaaaaa")
        assert token is not None and token.revoked_at is not None
        assert utc(token.revoked_at) == revoked_at  # the first revocation stands

    with pytest.raises(IntegrityError):
        make_token(db, "bbbbbbbbbbbb", bot)  # ids are unique
    with pytest.raises(IntegrityError):
        make_token(db, "dddddddddddd", 9999)  # the owner must exist


def test_active_tokens_are_neither_revoked_nor_expired(db: Database) -> None:
    with db.transaction() as conn:
        alice = userq.create(conn, "alice", "$argon2id$a", is_admin=False)
    make_token(db, "active000000", alice)  # expires T0 + 90 days
    make_token(db, "revoked00000", alice)
    make_token(db, "expired00000", alice, created=T0 - timedelta(days=90, seconds=1))
    with db.transaction() as conn:
        aq.revoke_token(conn, "revoked00000", T0)

    with db.read() as conn:
        assert [t.id for t in aq.active_tokens(conn, T0)] == ["active000000"]
        assert aq.active_tokens(conn, T0 + timedelta(days=90)) == []  # expiry is exclusive
        earlier = {t.id for t in aq.active_tokens(conn, T0 - timedelta(days=1))}
        assert earlier == {"active000000", "expired00000"}


def test_permission_targets_and_their_grants(db: Database) -> None:
    with db.transaction() as conn:
        alice = userq.create(conn, "alice", "$argon2id$a", is_admin=False)
        ci = userq.create_group(conn, "ci", None)
        prod = aq.create_target(conn, "prod", ["prod"], ["**"], [], T0)
        dev = aq.create_target(conn, "dev", ["dev", "team-*"], ["shop/**"], ["**/debug"], T0)
        aq.replace_grants(
            conn,
            dev,
            [
                GrantRecord(0, alice, None, ("read", "deploy")),
                GrantRecord(0, None, ci, ("promote",)),
                GrantRecord(0, None, None, ("read",)),  # anonymous
            ],
        )
        aq.replace_grants(conn, prod, [GrantRecord(0, None, ci, ("read",))])

    with db.read() as conn:
        assert [t.name for t in aq.list_targets(conn)] == ["dev", "prod"]
        target = aq.get_target(conn, "dev")
        assert target is not None
        assert (target.id, target.repositories, target.include, target.exclude) == (
            dev,
            ("dev", "team-*"),
            ("shop/**",),
            ("**/debug",),
        )
        assert aq.get_target(conn, "nope") is None
        assert aq.list_grants(conn) == [
            GrantRecord(dev, alice, None, ("read", "deploy")),
            GrantRecord(dev, None, ci, ("promote",)),
            GrantRecord(dev, None, None, ("read",)),
            GrantRecord(prod, None, ci, ("read",)),
        ]

    with db.transaction() as conn:
        aq.update_target(conn, dev, ["dev"], ["**"], [], T0 + timedelta(days=1))
        aq.replace_grants(conn, dev, [GrantRecord(0, None, ci, ("read", "delete"))])
    with db.read() as conn:
        target = aq.get_target(conn, "dev")
        assert target is not None
        assert (target.repositories, target.include, target.exclude) == (("dev",), ("**",), ())
        assert aq.list_grants(conn) == [
            GrantRecord(prod, None, ci, ("read",)),
            GrantRecord(dev, None, ci, ("read", "delete")),
        ]

    with db.transaction() as conn:
        aq.replace_grants(conn, dev, [])
    with db.read() as conn:
        assert [g.target_id for g in aq.list_grants(conn)] == [prod]

    with pytest.raises(IntegrityError), db.transaction() as conn:
        aq.create_target(conn, "dev", ["x"], ["**"], [], T0)  # names are unique


def count_rows_where(db: Database, table: Any, column: Any, value: int) -> int:
    return count_rows(db, table, column == value)


def test_deleting_a_principal_group_or_target_takes_what_hangs_on_it(db: Database) -> None:
    with db.transaction() as conn:
        alice = userq.create(conn, "alice", "$argon2id$a", is_admin=False)
        bob = userq.create(conn, "bob", "$argon2id$b", is_admin=False)
        testers = userq.create_group(conn, "testers", None)
        ci = userq.create_group(conn, "ci", None)
        for group in (testers, ci):
            userq.add_member(conn, group, alice)
            userq.add_member(conn, group, bob)
        dev = aq.create_target(conn, "dev", ["dev"], ["**"], [], T0)
        prod = aq.create_target(conn, "prod", ["prod"], ["**"], [], T0)
        for target in (dev, prod):
            aq.replace_grants(
                conn,
                target,
                [
                    GrantRecord(0, alice, None, ("read",)),
                    GrantRecord(0, bob, None, ("read",)),
                    GrantRecord(0, None, testers, ("read",)),
                    GrantRecord(0, None, ci, ("read",)),
                    GrantRecord(0, None, None, ("read",)),
                ],
            )
    make_token(db, "alice0000000", alice)
    make_token(db, "bob000000000", bob)

    with db.transaction() as conn:
        userq.delete_user(conn, alice)

    assert count_rows_where(db, group_members, group_members.c.user_id, alice) == 0
    assert count_rows_where(db, access_tokens, access_tokens.c.user_id, alice) == 0
    assert count_rows_where(db, permission_grants, permission_grants.c.user_id, alice) == 0
    assert count_rows_where(db, group_members, group_members.c.user_id, bob) == 2
    assert count_rows_where(db, access_tokens, access_tokens.c.user_id, bob) == 1

    with db.transaction() as conn:
        userq.delete_group(conn, testers)

    assert count_rows_where(db, group_members, group_members.c.group_id, testers) == 0
    assert count_rows_where(db, permission_grants, permission_grants.c.group_id, testers) == 0
    with db.read() as conn:
        assert userq.memberships(conn) == [(ci, bob)]

    with db.transaction() as conn:
        aq.delete_target(conn, dev)

    with db.read() as conn:
        assert [t.name for t in aq.list_targets(conn)] == ["prod"]
        assert aq.list_grants(conn) == [
            GrantRecord(prod, bob, None, ("read",)),
            GrantRecord(prod, None, ci, ("read",)),
            GrantRecord(prod, None, None, ("read",)),
        ]
        assert userq.get_by_username(conn, "bob") is not None
        assert userq.get_group(conn, "ci") is not None


def test_a_deleted_users_id_is_never_given_to_another(db: Database) -> None:
    """Registry JWTs and refresh tokens name the principal by name and users row id: a user
    deleted and re-created under the same name must get another id, or the old one's tokens
    would act as the new one."""
    with db.transaction() as conn:
        userq.create(conn, "admin", "$argon2id$a", is_admin=True)
        old = userq.create(conn, "alice", "$argon2id$b", is_admin=False)
    with db.transaction() as conn:
        userq.delete_user(conn, old)

    with db.transaction() as conn:
        new = userq.create(conn, "alice", "$argon2id$c", is_admin=False)

    assert new != old


def audit_event(
    at: datetime, actor: str, action: str, target: str | None, **more: Any
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "address": more.get("address"),
        "action": action,
        "target": target,
        "outcome": more.get("outcome", "ok"),
        "reason": more.get("reason"),
        "detail": more.get("detail"),
    }


def test_audit_events_append_and_search(db: Database) -> None:
    events = [
        audit_event(
            T0, "admin", "user.created", "alice", address="192.0.2.1", detail={"g": ["ci"]}
        ),
        audit_event(T0 + timedelta(minutes=1), "admin", "group.created", "ops"),
        audit_event(T0 + timedelta(minutes=2), "admin", "user.deleted", "alice"),
        audit_event(
            T0 + timedelta(minutes=3),
            "bob",
            "access.refused",
            "dev/shop/cart",
            outcome="refused",
            reason="needs deploy",
        ),
        audit_event(T0 + timedelta(minutes=4), "bob", "access.refused", "devx/app"),
        audit_event(T0 + timedelta(minutes=5), "bob", "access.refused", "team_a/app"),
        audit_event(T0 + timedelta(minutes=6), "bob", "access.refused", "teamxa/app"),
        audit_event(T0 + timedelta(minutes=7), "eve", "login.failed", None),
        audit_event(T0 + timedelta(minutes=8), "eve", "users.exported", "x"),
    ]
    with db.transaction() as conn:
        auditq.append(conn, events[:3])
        auditq.append(conn, [])
    with db.transaction() as conn:
        auditq.append(conn, events[3:])

    with db.read() as conn:
        every = auditq.search(conn)
        assert [e.target for e in every] == [e["target"] for e in reversed(events)]  # newest first
        first = every[-1]
        assert (first.actor, first.address, first.action, first.target) == (
            "admin",
            "192.0.2.1",
            "user.created",
            "alice",
        )
        assert (first.outcome, first.reason, first.detail) == ("ok", None, {"g": ["ci"]})
        assert utc(first.at) == T0
        refused = every[-4]
        assert (refused.outcome, refused.reason) == ("refused", "needs deploy")

        def actions(**filters: Any) -> list[str]:
            return [e.action for e in auditq.search(conn, **filters)]

        def targets(**filters: Any) -> list[str | None]:
            return [e.target for e in auditq.search(conn, **filters)]

        assert actions(actor="admin") == ["user.deleted", "group.created", "user.created"]
        assert actions(actor="nobody") == []
        assert actions(action="user.created") == ["user.created"]
        assert actions(action="user") == ["user.deleted", "user.created"]  # not users.exported
        assert actions(action="user.*") == ["user.deleted", "user.created"]
        assert targets(repo="dev") == ["dev/shop/cart"]  # not devx/app
        assert targets(repo="team_a") == ["team_a/app"]  # "_" is not a wildcard
        assert targets(actor="bob", since=T0 + timedelta(minutes=5)) == [
            "teamxa/app",
            "team_a/app",
        ]
        assert len(auditq.search(conn, limit=3)) == 3
        assert auditq.search(conn, limit=1)[0].actor == "eve"


# --- properties, promotion records, events (migration 0003) ------------------------------------


def manifest_id(db: Database, repository_id: int, manifest_digest: str, image: str = IMAGE) -> int:
    with db.read() as conn:
        record = cq.get_manifest(conn, repository_id, image, manifest_digest)
    assert record is not None
    return record.id


def test_properties_are_multi_valued_per_manifest_row_and_go_with_it(db: Database) -> None:
    dev, prod = make_repo(db, "dev"), make_repo(db, "prod")
    in_dev, _ = put_manifest(db, dev, b'{"m":1}')
    put_manifest(db, prod, b'{"m":1}')
    a, b = manifest_id(db, dev, in_dev), manifest_id(db, prod, in_dev)
    values = {"qa.uat": ["passed", "passed", "retest"], "note": ["✓ grün, a;b", "x" * 4096]}
    with db.transaction() as conn:
        propq.set_keys(conn, a, values)
        propq.set_keys(conn, a, {"tidegate.pushed_by": ["dave"]})
    with db.read() as conn:
        assert propq.get(conn, a) == {
            "note": ["✓ grün, a;b", "x" * 4096],
            "qa.uat": ["passed", "retest"],
            "tidegate.pushed_by": ["dave"],
        }
        assert propq.get(conn, b) == {}  # the same digest in prod carries its own
        assert propq.get_many(conn, [a, b, a]) == {a: propq.get(conn, a), b: {}}
    with db.transaction() as conn:
        propq.replace_user(conn, a, {"k": ["v"]})
    with db.read() as conn:
        assert propq.get(conn, a) == {"k": ["v"], "tidegate.pushed_by": ["dave"]}
    with db.transaction() as conn:
        propq.delete_keys(conn, a, ["k", "absent"])
    with db.read() as conn:
        assert propq.get(conn, a) == {"tidegate.pushed_by": ["dave"]}
    with db.transaction() as conn:
        cq.delete_manifest(conn, dev, IMAGE, in_dev)
    assert count_rows(db, properties_table, properties_table.c.manifest_id == a) == 0


def test_promotion_records_lineage_and_events(db: Database) -> None:
    def record(source: str, target: str, outcome: str, d: str) -> dict[str, Any]:
        return {
            "created_at": datetime.now(UTC),
            "actor": "ci-bot",
            "source": source,
            "image": IMAGE,
            "target": target,
            "target_image": IMAGE,
            "digest": d,
            "tag": "1.0",
            "target_tag": "1.0",
            "mode": "copy",
            "outcome": outcome,
            "evaluation": {"passed": outcome == "promoted", "checks": []},
            "properties": {"qa.ticket": ["QA-12"]},
            "counts": {"manifests": 1, "blobs": 2, "referrers": 0},
        }

    one, two = digest("one"), digest("two")
    with db.transaction() as conn:
        first = promq.record(conn, record("dev", "test", "promoted", one))
        promq.record(conn, record("dev", "test", "promoted", two))
        promq.record(conn, record("test", "prod", "refused", one))
        promq.publish(conn, "image.promoted", "test/shop/cart:1.0", {"digest": one})
    with db.read() as conn:
        rows = promq.lineage(conn, one, None, None, 100)
        assert [(r["source"], r["target"], r["outcome"]) for r in rows] == [
            ("dev", "test", "promoted"),
            ("test", "prod", "refused"),
        ]
        assert rows[0]["id"] == first
        assert rows[0]["properties"] == {"qa.ticket": ["QA-12"]}
        assert rows[0]["counts"]["blobs"] == 2
        assert [r["digest"] for r in promq.lineage(conn, None, "prod", None, 100)] == [one]
        assert len(promq.lineage(conn, None, None, IMAGE, 2)) == 2
        events = promq.list_events(conn)
        assert [(e["type"], e["subject"], e["data"]) for e in events] == [
            ("image.promoted", "test/shop/cart:1.0", {"digest": one})
        ]
        assert promq.list_events(conn, after_id=events[0]["id"]) == []


def test_references_and_repository_lock(db: Database) -> None:
    dev = make_repo(db, "dev")
    blob, child = digest("layer"), digest("child")
    with db.transaction() as conn:
        cq.add_blob(conn, blob, 5)
    index, _ = put_manifest(db, dev, b'{"i":1}', blob_refs=(blob,), manifest_refs=(child,))
    with db.transaction() as conn:
        promq.lock_repository(conn, dev)
        assert promq.references(conn, manifest_id(db, dev, index)) == [
            (blob, "blob"),
            (child, "manifest"),
        ]


def test_one_new_tag_set_at_once_by_two_transactions(db: Database) -> None:
    """Two pushes of different manifests under one new tag, racing: both succeed and the tag
    names one of them. (On PostgreSQL both see no tag before either commits; the second
    insert must not fail with a unique error.)"""
    repo = make_repo(db, "race")
    contents = [b'{"schemaVersion":2,"n":1}', b'{"schemaVersion":2,"n":2}']
    digests = [str(Digest.of(c)) for c in contents]
    inside = threading.Barrier(2, timeout=30)
    stored = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def push(content: bytes, manifest_digest: str) -> None:
        try:
            with db.transaction() as conn:
                cq.tag_digest(conn, repo, IMAGE, "1.0")
                # PostgreSQL: both are in and both saw no tag; SQLite: the second waits at
                # BEGIN IMMEDIATE instead, and the barrier times out
                with contextlib.suppress(threading.BrokenBarrierError):
                    inside.wait(timeout=2)
                cq.put_manifest(
                    conn,
                    repository_id=repo,
                    image=IMAGE,
                    digest=manifest_digest,
                    content=content,
                    media_type=mt.OCI_MANIFEST,
                    artifact_type=None,
                    subject=None,
                    annotations=None,
                    pushed_by="admin",
                    blob_refs=(),
                    manifest_refs=(),
                )
                cq.set_tag(conn, repo, IMAGE, "1.0", manifest_digest)
                # the first keeps its transaction open while the second reaches its insert
                with contextlib.suppress(threading.BrokenBarrierError):
                    stored.wait(timeout=1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=push, args=pair) for pair in zip(contents, digests, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    with db.read() as conn:
        assert cq.tag_digest(conn, repo, IMAGE, "1.0") in digests
        assert cq.list_tags(conn, repo, IMAGE, None, None) == ["1.0"]

"""The metadata layer (tidegate.db), one suite run on SQLite and on a real PostgreSQL server.

Every test gets a fresh, migrated database through the ``database_url`` fixture of
tests/conftest.py. Query functions never commit: each test writes inside
``db.transaction()`` and reads back inside ``db.read()``, as the services do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tidegate.db import Database
from tidegate.db import content as cq
from tidegate.db import repositories as rq
from tidegate.db import uploads as uq
from tidegate.db import users as userq
from tidegate.db.tables import manifest_contents, manifest_references
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

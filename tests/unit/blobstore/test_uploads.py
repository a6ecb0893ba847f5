"""Upload sessions over every storage driver: append, verify, commit; nothing partial survives."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tidegate.blobstore import BlobStore, UploadStore
from tidegate.blobstore.layout import blob_path
from tidegate.errors import BlobUnknown, BlobUploadUnknown, DigestInvalid, SizeInvalid
from tidegate.oci.digest import EMPTY_SHA256, Digest
from tidegate.storage import StorageDriver
from tidegate.storage.factory import create_driver

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["filesystem", "memory"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    return create_driver(request.param, tmp_path / "storage")


@pytest.fixture
def store(driver: StorageDriver) -> UploadStore:
    return UploadStore(driver)


@pytest.fixture
def upload_id(store: UploadStore) -> str:
    new_id = uuid.uuid4().hex
    store.create(new_id)
    return new_id


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def blob_bytes(driver: StorageDriver, digest: Digest) -> bytes:
    return b"".join(BlobStore(driver).read(digest))


async def test_new_upload_is_empty(store: UploadStore, upload_id: str) -> None:
    assert store.size(upload_id) == 0


async def test_append_in_several_calls_then_commit(
    store: UploadStore, driver: StorageDriver, upload_id: str
) -> None:
    assert await store.append(upload_id, stream(b"hello ", b"", b"wor")) == 9
    assert await store.append(upload_id, stream(b"ld")) == 11
    assert store.size(upload_id) == 11
    digest = Digest.of(b"hello world")

    assert store.commit(upload_id, digest) == 11

    blobs = BlobStore(driver)
    assert blobs.exists(digest)
    assert blobs.size(digest) == 11
    assert blob_bytes(driver, digest) == b"hello world"
    assert b"".join(blobs.read(digest, 6, 5)) == b"world"
    with pytest.raises(BlobUploadUnknown):
        store.size(upload_id)  # the session is gone once committed


async def test_large_upload_in_many_small_chunks(
    store: UploadStore, driver: StorageDriver, upload_id: str
) -> None:
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB, more than one internal batch
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]

    assert await store.append(upload_id, stream(*chunks[:20])) == 20 * 65536
    assert await store.append(upload_id, stream(*chunks[20:])) == len(data)

    assert store.commit(upload_id, Digest.of(data)) == len(data)
    assert blob_bytes(driver, Digest.of(data)) == data


async def test_wrong_digest_discards_the_upload(
    store: UploadStore, driver: StorageDriver, upload_id: str
) -> None:
    await store.append(upload_id, stream(b"corrupted in transit"))
    declared = Digest.of(b"what the client meant to send")

    with pytest.raises(DigestInvalid) as raised:
        store.commit(upload_id, declared)

    assert str(declared) in raised.value.message
    assert str(Digest.of(b"corrupted in transit")) in raised.value.message
    with pytest.raises(BlobUploadUnknown):
        store.size(upload_id)
    assert driver.list("uploads") == []
    blobs = BlobStore(driver)
    assert not blobs.exists(declared)
    assert not blobs.exists(Digest.of(b"corrupted in transit"))
    with pytest.raises(BlobUnknown):
        blobs.size(declared)


async def test_sha512_commit(store: UploadStore, driver: StorageDriver, upload_id: str) -> None:
    await store.append(upload_id, stream(b"sha512 ", b"content"))
    digest = Digest.of(b"sha512 content", "sha512")

    assert store.commit(upload_id, digest) == 14

    assert blob_bytes(driver, digest) == b"sha512 content"
    assert driver.exists(blob_path(digest))


async def test_wrong_sha512_digest_discards_the_upload(
    store: UploadStore, driver: StorageDriver, upload_id: str
) -> None:
    await store.append(upload_id, stream(b"content"))

    with pytest.raises(DigestInvalid):
        store.commit(upload_id, Digest.of(b"other", "sha512"))

    assert driver.list("uploads") == []


async def test_empty_blob(store: UploadStore, driver: StorageDriver, upload_id: str) -> None:
    assert store.commit(upload_id, EMPTY_SHA256) == 0

    assert BlobStore(driver).size(EMPTY_SHA256) == 0
    assert blob_bytes(driver, EMPTY_SHA256) == b""


async def test_upload_continues_after_a_restart(driver: StorageDriver) -> None:
    """Upload sessions survive a process restart: a new store finishes what the old began."""
    before = UploadStore(driver)
    upload_id = uuid.uuid4().hex
    before.create(upload_id)
    await before.append(upload_id, stream(b"first half, "))

    after = UploadStore(driver)
    assert after.size(upload_id) == 12
    assert await after.append(upload_id, stream(b"second half")) == 23

    assert after.commit(upload_id, Digest.of(b"first half, second half")) == 23
    assert blob_bytes(driver, Digest.of(b"first half, second half")) == b"first half, second half"


async def test_commit_by_another_store_than_the_one_that_appended(driver: StorageDriver) -> None:
    appender, committer = UploadStore(driver), UploadStore(driver)
    upload_id = uuid.uuid4().hex
    appender.create(upload_id)
    await appender.append(upload_id, stream(b"one ", b"two"))

    assert committer.commit(upload_id, Digest.of(b"one two")) == 7


async def test_replicas_taking_turns_on_one_upload(driver: StorageDriver) -> None:
    """Chunks of one upload may reach different replicas; each must hash what is on storage."""
    first, second = UploadStore(driver), UploadStore(driver)
    upload_id = uuid.uuid4().hex
    first.create(upload_id)

    await first.append(upload_id, stream(b"aaa"))
    await second.append(upload_id, stream(b"bbb"))
    await first.append(upload_id, stream(b"ccc"))  # first's own hash state is now stale

    assert first.commit(upload_id, Digest.of(b"aaabbbccc")) == 9
    assert blob_bytes(driver, Digest.of(b"aaabbbccc")) == b"aaabbbccc"


async def test_size_limit_refuses_a_body_that_is_too_large(
    store: UploadStore, upload_id: str
) -> None:
    with pytest.raises(SizeInvalid, match="larger than 10 bytes"):
        await store.append(upload_id, stream(b"12345", b"67890", b"X"), limit=10)


async def test_size_limit_applies_to_each_append(store: UploadStore, upload_id: str) -> None:
    assert await store.append(upload_id, stream(b"12345", b"67890"), limit=10) == 10
    assert await store.append(upload_id, stream(b"abcde"), limit=5) == 15

    assert store.commit(upload_id, Digest.of(b"1234567890abcde")) == 15


async def test_committing_a_blob_that_exists_keeps_it(
    store: UploadStore, driver: StorageDriver, upload_id: str
) -> None:
    await store.append(upload_id, stream(b"shared layer"))
    store.commit(upload_id, Digest.of(b"shared layer"))
    again = uuid.uuid4().hex
    store.create(again)
    await store.append(again, stream(b"shared layer"))

    assert store.commit(again, Digest.of(b"shared layer")) == 12

    assert blob_bytes(driver, Digest.of(b"shared layer")) == b"shared layer"
    assert driver.list("uploads") == []


async def test_cancel_removes_the_upload(
    store: UploadStore, driver: StorageDriver, upload_id: str
) -> None:
    await store.append(upload_id, stream(b"abandoned"))

    store.cancel(upload_id)

    with pytest.raises(BlobUploadUnknown):
        store.size(upload_id)
    with pytest.raises(BlobUploadUnknown):
        store.commit(upload_id, Digest.of(b"abandoned"))
    assert driver.list("uploads") == []


async def test_commit_of_an_unknown_upload(store: UploadStore) -> None:
    with pytest.raises(BlobUploadUnknown):
        store.commit(uuid.uuid4().hex, EMPTY_SHA256)


async def test_a_refused_append_leaves_the_upload_as_it_was(
    store: UploadStore, upload_id: str
) -> None:
    """A body larger than its Content-Range is refused whole: the client can resend the chunk
    from where the upload stood, and the bytes already accepted still verify."""
    await store.append(upload_id, stream(b"kept"))
    block = b"x" * (256 * 1024)
    limit = 2 * 1024 * 1024

    with pytest.raises(SizeInvalid):
        await store.append(upload_id, stream(*[block] * 12), limit=limit)  # 3 MiB

    assert store.size(upload_id) == 4
    assert await store.append(upload_id, stream(b" and more")) == 13
    assert store.commit(upload_id, Digest.of(b"kept and more")) == 13

"""Streaming a blob to waiters while it is fetched (services/fetches.py), on the memory driver:
the last byte waits for verification, a failed fetch cuts the stream, nothing wrong is kept."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import anyio
import pytest

from tidegate.blobstore import BlobStore, UploadStore
from tidegate.errors import UpstreamUnavailable
from tidegate.oci.digest import Digest
from tidegate.services.fetches import BlobFlight, FetchFailed, run_fetch, stream_staged
from tidegate.storage.memory import MemoryDriver

DATA = bytes(range(256)) * 4096  # 1 MiB


def digest_of(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


async def body(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 300_000):
        yield data[i : i + 300_000]


async def _noop(_: object) -> None:
    return None


def stores() -> tuple[UploadStore, BlobStore]:
    driver = MemoryDriver()
    return UploadStore(driver), BlobStore(driver)


def test_a_waiter_gets_every_byte_and_the_blob_is_kept() -> None:
    uploads, store = stores()
    digest = digest_of(DATA)

    async def main() -> bytes:
        flight = BlobFlight("a" * 32)
        received: list[bytes] = []

        async def fetch() -> None:
            await run_fetch(flight, body(DATA), len(DATA), digest, uploads, _noop)
            # the caller places the sealed bytes when it links them (under the digest's lock)
            uploads.place("a" * 32, digest)
            flight.progress.done = True
            flight.notify()

        async def wait_and_read() -> None:
            async for chunk in stream_staged(
                flight.status, flight.wait, uploads, store, digest, len(DATA)
            ):
                received.append(chunk)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_and_read)
            tg.start_soon(fetch)
        return b"".join(received)

    assert anyio.run(main) == DATA
    assert store.exists(digest)
    assert uploads.staged_size("a" * 32) is None  # the staging file became the blob


@pytest.mark.parametrize("bad", [DATA[:-10], DATA[:-1] + b"x", DATA + b"more"])
def test_a_short_corrupt_or_long_body_is_not_kept_and_cuts_waiters(bad: bytes) -> None:
    uploads, store = stores()
    digest = digest_of(DATA)

    async def main() -> tuple[int, BaseException | None]:
        flight = BlobFlight("c" * 32)
        received = 0
        failed: BaseException | None = None

        async def fetch() -> None:
            with pytest.raises(UpstreamUnavailable):
                await run_fetch(flight, body(bad), len(DATA), digest, uploads, _noop)

        async def read() -> None:
            nonlocal received, failed
            try:
                async for chunk in stream_staged(
                    flight.status, flight.wait, uploads, store, digest, len(DATA)
                ):
                    received += len(chunk)
            except FetchFailed as exc:
                failed = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            tg.start_soon(fetch)
        return received, failed

    received, failed = anyio.run(main)
    assert isinstance(failed, FetchFailed)
    # even a body of the right length with a wrong last byte never reaches a waiter whole:
    # the last byte is sent only after verification
    assert received < len(DATA)
    assert not store.exists(digest)
    assert uploads.staged_size("c" * 32) is None

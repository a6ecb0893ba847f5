"""Single-flight fetches of upstream blobs, streamed to every waiter while the bytes arrive.

Within a process, one ``BlobFlight`` per (repository, image, digest): one task copies the
upstream body into a staging file (``UploadStore.staging_writer``), hashing as it writes, and
every request for that blob reads the staging file as it grows. Across processes and replicas,
the fetch is guarded by a lease row (``db/remote.py``): the process that inserts it fetches;
the others poll the row, tail the same staging file when they share the storage, or wait
for the blob to appear.

What a waiter is sent: the bytes in the order the upstream sent them, except the last byte,
which is withheld until the whole blob is verified against its digest and size (blobs up to
``READ_STEP`` are sent only once verified). A short or corrupt upstream body is discarded and
every waiter's response is cut short (or, before its first byte, answered 502), so no client
ever receives a complete body with the wrong bytes, and nothing wrong is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio.to_thread

from tidegate.blobstore import BlobStore, UploadStore
from tidegate.errors import BlobUnknown, UpstreamUnavailable
from tidegate.oci.digest import Digest
from tidegate.storage import PathNotFound

READ_STEP = 1 << 20  # a waiter holds at most this much of a blob in memory
FLUSH_BYTES = 1 << 20  # the fetching task writes, hashes (in a thread) and wakes waiters per MiB
POLL_SECONDS = 0.05  # waiters in other processes look at the lease and the file this often


class FetchFailed(UpstreamUnavailable):
    """Raised into the stream of a waiter when the fetch it follows failed. Before the first
    byte it is answered as 502 UPSTREAM_UNAVAILABLE; later the response is cut short."""


@dataclass
class Progress:
    """Where a fetch stands: ``written`` bytes are in the staging file; ``done`` once the blob
    is verified and committed; ``error`` once it failed."""

    upload_id: str
    size: int | None = None
    written: int = 0
    done: bool = False
    error: Exception | None = None


class BlobFlight:
    """A fetch running in this process."""

    def __init__(self, upload_id: str) -> None:
        self.progress = Progress(upload_id)
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), 1.0)

    async def status(self) -> Progress:
        return self.progress


async def stream_staged(
    status: Callable[[], Awaitable[Progress]],
    wait: Callable[[], Awaitable[None]],
    uploads: UploadStore,
    store: BlobStore,
    digest: Digest,
    size: int,
) -> AsyncIterator[bytes]:
    """The blob's bytes, read from the staging file as it grows, then from the blob store.
    Raises FetchFailed when the fetch fails (the response is cut short)."""
    offset = 0
    while offset < size:
        progress = await status()
        if progress.error is not None:
            raise FetchFailed(
                f"the upstream fetch of blob {digest} failed and nothing was kept: {progress.error}"
            )
        if progress.done:
            chunk = await anyio.to_thread.run_sync(_read_blob, store, digest, offset)
        else:
            # The last byte waits for verification; a blob of one read step waits whole, so a
            # bad one is answered with an error instead of a cut-off body.
            limit = min(progress.written, size - 1) if size > READ_STEP else 0
            if offset >= limit:
                await wait()
                continue
            try:
                chunk = await anyio.to_thread.run_sync(
                    uploads.read_staged, progress.upload_id, offset, min(limit - offset, READ_STEP)
                )
            except PathNotFound:  # committed (or discarded) meanwhile: ask again
                await wait()
                continue
        if not chunk:
            raise FetchFailed(f"blob {digest} ended after {offset} of {size} bytes")
        offset += len(chunk)
        yield chunk


def _read_blob(store: BlobStore, digest: Digest, offset: int) -> bytes:
    try:
        return next(iter(store.read(digest, offset, READ_STEP)), b"")
    except BlobUnknown:
        return b""


async def run_fetch(
    flight: BlobFlight,
    body: AsyncIterator[bytes],
    size: int | None,
    digest: Digest,
    uploads: UploadStore,
    keep_alive: Callable[[Progress], Awaitable[None]],
) -> None:
    """Copy ``body`` into the staging file, hashing; verify; commit. Raises (after marking
    the flight failed and discarding the bytes) UpstreamUnavailable on a short, long or
    corrupt body."""
    progress = flight.progress
    progress.size = size
    writer = await anyio.to_thread.run_sync(uploads.staging_writer, progress.upload_id)
    hasher = digest.hasher()
    pending: list[bytes] = []
    pending_bytes = 0
    last_renewal = time.monotonic()

    def flush(blocks: list[bytes]) -> None:  # off the event loop: the bytes and their hash
        for block in blocks:
            writer.write(block)
            hasher.update(block)

    try:
        flight.notify()
        async for chunk in body:
            pending.append(chunk)
            pending_bytes += len(chunk)
            if size is not None and progress.written + pending_bytes > size:
                raise UpstreamUnavailable(
                    f"the upstream sent more than the {size} bytes of blob {digest}"
                )
            if pending_bytes >= FLUSH_BYTES:
                await anyio.to_thread.run_sync(flush, pending)
                progress.written += pending_bytes
                pending, pending_bytes = [], 0
                flight.notify()
                if time.monotonic() - last_renewal > 5:
                    last_renewal = time.monotonic()
                    await keep_alive(progress)
        if pending:
            await anyio.to_thread.run_sync(flush, pending)
            progress.written += pending_bytes
        await anyio.to_thread.run_sync(writer.close)
        if size is not None and progress.written != size:
            raise UpstreamUnavailable(
                f"the upstream sent {progress.written} of the {size} bytes of blob {digest}"
            )
        if Digest(digest.algorithm, hasher.hexdigest()) != digest:
            raise UpstreamUnavailable(
                f"the upstream sent bytes that do not match {digest}; they were not kept"
            )
        progress.size = progress.written
        await anyio.to_thread.run_sync(uploads.seal, progress.upload_id)  # placed when linked
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(writer.close)
            await anyio.to_thread.run_sync(uploads.cancel, progress.upload_id)
        progress.error = exc if isinstance(exc, Exception) else UpstreamUnavailable("cancelled")
        flight.notify()
        raise

"""Blobs of remote repositories: cached ones served like local ones; others fetched once
per deployment (a lease row, ``Upstreams``) and streamed to every waiter while the bytes
arrive (``fetches.py``); a HEAD answered by the upstream without downloading."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import anyio.to_thread
import structlog

from tidegate.blobstore import BlobStore, UploadStore
from tidegate.db import Database
from tidegate.db import content as q
from tidegate.db import gc as gc_q
from tidegate.db import remote as remote_q
from tidegate.errors import BlobUnknown, TidegateError, UpstreamUnavailable
from tidegate.oci.digest import Digest
from tidegate.services.blobs import BlobInfo, BlobService
from tidegate.services.content import BlobStream
from tidegate.services.fetches import POLL_SECONDS, BlobFlight, run_fetch, stream_staged
from tidegate.services.names import ImageRef
from tidegate.services.upstreams import Upstreams
from tidegate.upstream import UpstreamNotFound

log = structlog.get_logger("tidegate.remote")


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class RemoteBlobs:
    def __init__(
        self,
        db: Database,
        upstreams: Upstreams,
        blobs: BlobService,
        store: BlobStore,
        uploads: UploadStore,
    ) -> None:
        self._db = db
        self._up = upstreams
        self._blobs = blobs
        self._store = store
        self._uploads = uploads
        self._blob_flights: dict[str, BlobFlight] = {}

    async def blob(self, ref: ImageRef, digest: Digest, head: bool) -> BlobInfo | BlobStream:
        """See ``Content.blob``."""
        with contextlib.suppress(BlobUnknown):
            info = self._blobs.stat(ref, digest)
            self._up.hit(ref, "blob")
            return info
        if self._up.offline(ref):
            raise BlobUnknown(
                f"blob {digest} is unknown to {ref.name}: not cached, and the repository is offline"
            )
        if await self._up.negative(ref, str(digest)):
            raise BlobUnknown(
                f"blob {digest} is unknown to {ref.name}: the upstream does not have it"
                " (remembered)"
            )
        key = f"b|{ref.repository_id}|{ref.image}|{digest}"
        if head:
            return await self._head_blob(ref, digest, key)
        flight = self._blob_flights.get(key)
        if flight is None or flight.progress.error is not None:  # a failed one is not joined
            flight = BlobFlight(uuid.uuid4().hex)
            self._blob_flights[key] = flight
            flight.task = asyncio.ensure_future(self._fetch_blob(ref, digest, flight, key))
        while True:
            progress = flight.progress
            if progress.error is not None:
                if isinstance(progress.error, TidegateError):
                    raise progress.error
                raise UpstreamUnavailable(str(progress.error))
            if progress.done:
                return self._blobs.stat(ref, digest)
            if progress.size is not None:
                chunks = stream_staged(
                    flight.status, flight.wait, self._uploads, self._store, digest, progress.size
                )
                return BlobStream(digest, progress.size, chunks)
            await flight.wait()

    async def _head_blob(self, ref: ImageRef, digest: Digest, key: str) -> BlobStream:
        flight = self._blob_flights.get(key)
        if flight is not None and flight.progress.size is not None:
            return BlobStream(digest, flight.progress.size, _nothing())
        try:
            head = await self._up.client(ref).head_blob(ref.image, str(digest))
        except UpstreamNotFound as exc:
            await self._up.remember_missing(ref, str(digest))
            raise BlobUnknown(f"blob {digest} is unknown to {ref.name}: {exc}") from None
        return BlobStream(digest, head.size, _nothing())

    async def _fetch_blob(
        self, ref: ImageRef, digest: Digest, flight: BlobFlight, key: str
    ) -> None:
        """The task behind a flight: fetch under the lease, or follow whoever holds it."""
        progress = flight.progress
        try:
            while True:
                if await self._up.take_lease(key):
                    try:
                        size = await anyio.to_thread.run_sync(self._linked_size, ref, digest)
                        if size is not None:  # fetched elsewhere since our cache miss
                            progress.size, progress.written, progress.done = size, size, True
                            return
                        await self._download(ref, digest, flight, key)
                    finally:
                        with anyio.CancelScope(shield=True):
                            await self._up.release_lease(key)
                    return
                if await self._follow(ref, digest, flight, key):
                    return
        except UpstreamNotFound as exc:
            await self._up.remember_missing(ref, str(digest))
            progress.error = BlobUnknown(f"blob {digest} is unknown to {ref.name}: {exc}")
        except Exception as exc:
            progress.error = exc
            if isinstance(exc, UpstreamUnavailable) and "do not match" in exc.message:
                self._up.metrics.rejected.labels(ref.repository.key, "blob").inc()
            log.warning(
                "upstream blob fetch failed",
                repository=ref.repository.key,
                image=ref.image,
                digest=str(digest),
                reason=str(exc),
            )
        except BaseException:  # cancelled (shutdown): waiters must not wait for it forever
            progress.error = UpstreamUnavailable(f"the fetch of blob {digest} was cancelled")
            raise
        finally:
            flight.notify()
            if self._blob_flights.get(key) is flight:
                del self._blob_flights[key]

    async def _download(self, ref: ImageRef, digest: Digest, flight: BlobFlight, key: str) -> None:
        progress = flight.progress
        progress.upload_id = uuid.uuid4().hex
        progress.written = 0

        async def keep_alive(p: object) -> None:
            await self._up.renew_lease(key)

        async with self._up.client(ref).blob(ref.image, str(digest)) as (size, body):
            if size is not None:
                await self._up.describe_lease(key, progress.upload_id, size)
            await run_fetch(flight, body, size, digest, self._uploads, keep_alive)

        upload_id = progress.upload_id

        def link() -> None:
            with self._db.transaction() as conn:
                gc_q.lock_digests(conn, [str(digest)])  # see db/gc.py: GC runs before or after
                self._uploads.place(upload_id, digest)
                q.add_blob(conn, str(digest), progress.written)
                q.link_blob(conn, ref.repository_id, ref.image, str(digest))
                remote_q.clear_negative(conn, ref.repository_id, ref.image, str(digest))

        try:
            await anyio.to_thread.run_sync(link)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._uploads.cancel, upload_id)
            raise
        progress.done = True

    async def _follow(self, ref: ImageRef, digest: Digest, flight: BlobFlight, key: str) -> bool:
        """Another process fetches this blob: mirror its progress (tailing its staging file
        when this process sees the same storage). True once the blob is there; False when the
        other fetch ended without it (the caller then tries itself)."""
        progress = flight.progress
        log.info(
            "following an upstream fetch of another process",
            repository=ref.repository.key,
            image=ref.image,
            digest=str(digest),
        )

        def linked() -> int | None:
            return self._linked_size(ref, digest)

        while True:
            size = await anyio.to_thread.run_sync(linked)
            if size is not None:
                progress.size, progress.written, progress.done = size, size, True
                return True
            row = await self._up.lease(key)
            if row is None or row[3] < time.time():
                return await anyio.to_thread.run_sync(linked) is not None and self._mark(flight)
            _, upload_id, announced, _ = row
            if upload_id and announced is not None:
                staged = await anyio.to_thread.run_sync(self._uploads.staged_size, upload_id)
                if staged is not None:
                    progress.upload_id, progress.size = upload_id, announced
                    progress.written = max(progress.written, staged)
            flight.notify()
            await asyncio.sleep(POLL_SECONDS)

    def _linked_size(self, ref: ImageRef, digest: Digest) -> int | None:
        with self._db.read() as conn:
            return q.linked_blob_size(conn, ref.repository_id, ref.image, str(digest))

    @staticmethod
    def _mark(flight: BlobFlight) -> bool:
        flight.progress.done = True
        return True

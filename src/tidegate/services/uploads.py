"""Blob upload sessions: start, append chunks, status, finish, cancel, monolithic push.

A 201 from ``finish`` or ``push`` means the bytes were verified, fsynced, atomically moved into
place, and the rows that reference them committed: in that order, so a crash in between leaves
at most an orphan file for garbage collection, never a visible partial blob.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import anyio.to_thread

from tidegate.blobstore import UploadStore
from tidegate.blobstore.layout import is_upload_id
from tidegate.db import Database
from tidegate.db import content as content_q
from tidegate.db import gc as gc_q
from tidegate.db import uploads as upload_q
from tidegate.errors import BlobUploadUnknown, DigestInvalid, QuotaExceeded, RangeNotSatisfiable
from tidegate.oci.digest import Digest
from tidegate.services import quotas
from tidegate.services.metrics import Metrics
from tidegate.services.names import ImageRef

_TOUCH_EVERY = 60.0  # seconds


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class UploadService:
    def __init__(self, db: Database, store: UploadStore, metrics: Metrics | None = None) -> None:
        self._db = db
        self._store = store
        self._metrics = metrics
        self._locks: dict[str, anyio.Lock] = {}

    def _lock(self, upload_id: str) -> anyio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = anyio.Lock()
        return lock

    def start(self, ref: ImageRef) -> str:
        ref.require_push_allowed()
        upload_id = uuid.uuid4().hex
        self._store.create(upload_id)
        with self._db.transaction() as conn:
            upload_q.create(conn, upload_id, ref.repository_id, ref.image)
        return upload_id

    def _check(self, ref: ImageRef, upload_id: str, touch: bool = False) -> None:
        """The session exists for ``ref``. ``touch``: a client is appending, so record that
        the session is alive (``updated_at``, what garbage collection ages sessions by; at
        most once a minute per session)."""
        if not is_upload_id(upload_id):
            raise BlobUploadUnknown(f"upload {upload_id[:80]!r} is unknown to {ref.name}")
        with self._db.read() as conn:
            record = upload_q.get(conn, upload_id)
        if record is None or record.repository_id != ref.repository_id or record.image != ref.image:
            raise BlobUploadUnknown(f"upload {upload_id} is unknown to {ref.name}")
        if touch and (datetime.now(UTC) - _aware(record.updated_at)).total_seconds() > _TOUCH_EVERY:
            with self._db.transaction() as conn:
                upload_q.touch(conn, upload_id)

    def status(self, ref: ImageRef, upload_id: str) -> int:
        """Bytes received so far."""
        self._check(ref, upload_id)
        return self._store.size(upload_id)

    async def append(
        self,
        ref: ImageRef,
        upload_id: str,
        chunks: AsyncIterator[bytes],
        content_range: tuple[int, int] | None,
    ) -> int:
        """Append one chunk; a chunk that does not start where the upload ends is refused
        (RangeNotSatisfiable) and nothing is appended. Returns the new size."""
        await anyio.to_thread.run_sync(self._check, ref, upload_id, True)
        async with self._lock(upload_id), self._store.exclusive(upload_id):
            size = await anyio.to_thread.run_sync(self._store.size, upload_id)
            limit = None
            if content_range is not None:
                start, end = content_range
                if start != size:
                    raise RangeNotSatisfiable(
                        f"chunk starts at byte {start} but the upload holds {size} bytes;"
                        f" send the chunk that starts at {size}",
                        size,
                    )
                limit = end - start + 1
            return await self._store.append(upload_id, chunks, limit)

    async def finish(
        self,
        ref: ImageRef,
        upload_id: str,
        digest: Digest,
        chunks: AsyncIterator[bytes],
        content_range: tuple[int, int] | None,
    ) -> int:
        """Append the last chunk (possibly empty), verify against ``digest``, commit."""
        await self.append(ref, upload_id, chunks, content_range)
        async with self._lock(upload_id), self._store.exclusive(upload_id):
            try:
                size = await anyio.to_thread.run_sync(self._store.verify, upload_id, digest)
                await anyio.to_thread.run_sync(self._record, ref, digest, size, upload_id)
            except (DigestInvalid, QuotaExceeded):
                await anyio.to_thread.run_sync(self._forget, upload_id)
                raise
        self._locks.pop(upload_id, None)
        return size

    async def push(self, ref: ImageRef, digest: Digest, chunks: AsyncIterator[bytes]) -> int:
        """A whole blob in one request (POST with ``digest``)."""
        ref.require_push_allowed()
        upload_id = uuid.uuid4().hex
        await anyio.to_thread.run_sync(self._store.create, upload_id)
        try:
            await self._store.append(upload_id, chunks)
            size = await anyio.to_thread.run_sync(self._store.verify, upload_id, digest)
            await anyio.to_thread.run_sync(self._record, ref, digest, size, upload_id)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._store.cancel, upload_id)
            raise
        return size

    def _record(self, ref: ImageRef, digest: Digest, size: int, upload_id: str) -> None:
        """Under the digest's lock (db/gc.py): the quota, the file into place, the rows. A
        garbage collection deleting the same digest runs wholly before or wholly after."""
        with quotas.reported(self._db), self._db.transaction() as conn:
            quotas.lock(conn, ref)  # the repository before the digests
            gc_q.lock_digests(conn, [str(digest)])
            quotas.check(conn, ref, {str(digest): size}, what=f"blob {digest}")
            self._store.place(upload_id, digest)
            content_q.add_blob(conn, str(digest), size)
            content_q.link_blob(conn, ref.repository_id, ref.image, str(digest))
            upload_q.remove(conn, upload_id)
        if self._metrics is not None:
            self._metrics.uploads.labels(ref.repository.key).inc()
            self._metrics.upload_bytes.labels(ref.repository.key).inc(size)

    def cancel(self, ref: ImageRef, upload_id: str) -> None:
        self._check(ref, upload_id)
        self._forget(upload_id)

    def _forget(self, upload_id: str) -> None:
        with self._db.transaction() as conn:
            upload_q.remove(conn, upload_id)
        self._store.cancel(upload_id)
        self._locks.pop(upload_id, None)

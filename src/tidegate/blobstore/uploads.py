"""Bytes of upload sessions: append with single-pass hashing, verify, commit by atomic move.

The hash state of an upload lives in this process while the client streams chunks to it; after
a restart, or when another process continues an upload, the state is rebuilt by reading the
bytes already on storage once. Only the commit fsyncs.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread

from tidegate.blobstore.layout import (
    blob_path,
    is_upload_id,
    upload_data_path,
    upload_dir,
    upload_lock_path,
)
from tidegate.errors import BlobUploadUnknown, DigestInvalid, SizeInvalid
from tidegate.oci.digest import Digest, Hasher, new_hasher
from tidegate.storage import PathNotFound, StorageDriver, Writer

_FLUSH_BYTES = 1 << 20  # batch small request chunks into one write + hash in a worker thread


class UploadStore:
    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        self._hashers: dict[str, tuple[int, Hasher]] = {}
        self._lock = threading.Lock()

    @asynccontextmanager
    async def exclusive(self, upload_id: str) -> AsyncIterator[None]:
        """Across processes on this host: one request at a time appends to an upload.

        An advisory lock on a file beside the upload's bytes, taken without blocking a thread
        (polled). Drivers without local files rely on the caller's in-process lock.
        """
        path = self.driver.local_path(upload_lock_path(upload_id))
        if path is None:
            yield
            return
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise BlobUploadUnknown(f"upload {upload_id} has no data on storage") from None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await anyio.sleep(0.02)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def create(self, upload_id: str) -> None:
        self.driver.writer(upload_data_path(upload_id)).close()

    def size(self, upload_id: str) -> int:
        try:
            return self.driver.stat(upload_data_path(upload_id))
        except PathNotFound:
            raise BlobUploadUnknown(f"upload {upload_id} has no data on storage") from None

    def cancel(self, upload_id: str) -> None:
        with self._lock:
            self._hashers.pop(upload_id, None)
        self.driver.delete(upload_dir(upload_id))

    def _hasher_at(self, upload_id: str, size: int) -> Hasher:
        """The sha256 state after ``size`` bytes: cached, or rebuilt from storage."""
        with self._lock:
            cached = self._hashers.pop(upload_id, None)
        if cached and cached[0] == size:
            return cached[1]
        hasher = new_hasher("sha256")
        for block in self.driver.read(upload_data_path(upload_id), 0, size):
            hasher.update(block)
        return hasher

    async def append(
        self, upload_id: str, chunks: AsyncIterator[bytes], limit: int | None = None
    ) -> int:
        """Append the stream; return the new size. With ``limit`` the stream must be exactly
        that long; otherwise nothing of it is kept (SizeInvalid)."""
        path = upload_data_path(upload_id)
        writer = await anyio.to_thread.run_sync(lambda: self.driver.writer(path, append=True))
        start = writer.size
        pending: list[bytes] = []
        pending_bytes = 0
        hasher: Hasher | None = None

        def flush(blocks: list[bytes]) -> None:
            assert hasher is not None
            for block in blocks:
                writer.write(block)
                hasher.update(block)

        try:
            hasher = await anyio.to_thread.run_sync(self._hasher_at, upload_id, start)
            async for chunk in chunks:
                if not chunk:
                    continue
                if limit is not None and writer.size + pending_bytes + len(chunk) - start > limit:
                    raise SizeInvalid(f"the request body is larger than {limit} bytes")
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= _FLUSH_BYTES:
                    batch, pending, pending_bytes = pending, [], 0
                    await anyio.to_thread.run_sync(flush, batch)
            if pending:
                batch, pending = pending, []
                await anyio.to_thread.run_sync(flush, batch)
            if limit is not None and writer.size - start != limit:
                raise SizeInvalid(
                    f"the chunk has {writer.size - start} bytes but its Content-Range"
                    f" announced {limit}"
                )
        except BaseException:
            # A chunk with a Content-Range is all or nothing: a refused, cut off or abandoned
            # one leaves the upload as it was, so the client can resend it. A streamed body
            # keeps what arrived (the client asks for the offset and resumes).
            with anyio.CancelScope(shield=True):
                if limit is None and pending and hasher is not None:
                    await anyio.to_thread.run_sync(flush, pending)
                writer.close()
                if limit is not None:
                    await anyio.to_thread.run_sync(self.driver.truncate, path, start)
            raise
        finally:
            writer.close()
        with self._lock:
            self._hashers[upload_id] = (writer.size, hasher)
        return writer.size

    def verify(self, upload_id: str, digest: Digest) -> int:
        """Verify the bytes against ``digest`` and fsync them; ``place`` then moves them to
        the blob path (the caller does that under the per-digest lock, db/gc.py).

        Blocking. Returns the size. On a mismatch the upload is discarded and DigestInvalid
        raised: nothing partial survives.
        """
        path = upload_data_path(upload_id)
        try:
            size = self.driver.stat(path)
        except PathNotFound:
            raise BlobUploadUnknown(f"upload {upload_id} has no data on storage") from None
        if digest.algorithm == "sha256":
            hasher = self._hasher_at(upload_id, size)
        else:
            hasher = new_hasher(digest.algorithm)
            for block in self.driver.read(path):
                hasher.update(block)
        actual = Digest(digest.algorithm, hasher.hexdigest())
        if actual != digest:
            self.cancel(upload_id)
            raise DigestInvalid(
                f"the uploaded content has digest {actual}, not the {digest} the client declared;"
                " the upload was discarded"
            )
        self.driver.writer(path, append=True).commit()  # fsync the bytes
        return size

    def place(self, upload_id: str, digest: Digest) -> None:
        """Make verified, fsynced upload bytes the blob ``digest`` (atomic rename + directory
        fsync), or drop them when the blob is already there. Blocking. Call while holding the
        digest's lock: garbage collection deletes a blob file only under that lock, so the
        file seen here stays."""
        path = upload_data_path(upload_id)
        target = blob_path(digest)
        if not self.driver.exists(target):
            try:
                self.driver.move(path, target)
            except PathNotFound:
                raise BlobUploadUnknown(f"upload {upload_id} has no data on storage") from None
        self.cancel(upload_id)

    def commit(self, upload_id: str, digest: Digest) -> int:
        """``verify`` then ``place`` (for callers outside any database transaction)."""
        size = self.verify(upload_id, digest)
        self.place(upload_id, digest)
        return size

    def listed(self) -> list[str]:
        """Upload ids that have a directory on storage (sessions and staging files)."""
        try:
            return [name for name in self.driver.list("uploads") if is_upload_id(name)]
        except PathNotFound:
            return []

    def modified(self, upload_id: str) -> float | None:
        """When an upload's bytes (or, without bytes, its directory) last changed."""
        for path in (upload_data_path(upload_id), upload_dir(upload_id)):
            when = self.driver.modified(path)
            if when is not None:
                return when
        return None

    # --- staging for bytes fetched by the server itself (remote repositories) -------------

    def staging_writer(self, upload_id: str) -> Writer:
        """A fresh staging file for bytes the server fetches itself (not a client's upload:
        there is no upload row). Blocking."""
        return self.driver.writer(upload_data_path(upload_id))

    def read_staged(self, upload_id: str, offset: int, length: int) -> bytes:
        """Bytes already written to a staging file (another process may still be writing
        it). Raises PathNotFound once it was committed or discarded. Blocking."""
        return b"".join(self.driver.read(upload_data_path(upload_id), offset, length))

    def staged_size(self, upload_id: str) -> int | None:
        try:
            return self.driver.stat(upload_data_path(upload_id))
        except PathNotFound:
            return None

    def seal(self, upload_id: str) -> None:
        """fsync a staging file whose bytes the caller verified while writing them; ``place``
        then makes it the blob (under the digest's lock). Blocking."""
        self.driver.writer(upload_data_path(upload_id), append=True).commit()

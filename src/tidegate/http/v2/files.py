"""Sending blob bytes: zero-copy ``http.response.pathsend`` where the server offers it (granian),
otherwise 1 MiB reads in a worker thread; ranges always stream."""

from __future__ import annotations

from collections.abc import Iterator

import anyio.to_thread
import structlog
from starlette.types import Receive, Scope, Send

from tidegate.errors import TidegateError
from tidegate.http.errors import oci_error_response
from tidegate.services.blobs import BlobInfo, BlobService
from tidegate.services.content import BlobStream

log = structlog.get_logger("tidegate.http")

_INLINE_MAX = 64 * 1024  # small blobs are read on the event loop: no thread hand-off


def _next(iterator: Iterator[bytes]) -> bytes | None:
    return next(iterator, None)


class BlobResponse:
    def __init__(
        self,
        info: BlobInfo,
        blobs: BlobService,
        byte_range: tuple[int, int] | None,
        head: bool,
    ) -> None:
        self.info = info
        self.blobs = blobs
        self.range = byte_range
        self.head = head

    def _headers(self) -> tuple[int, list[tuple[bytes, bytes]], int, int]:
        size = self.info.size
        start, end = self.range if self.range else (0, size - 1)
        length = end - start + 1 if size else 0
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(length).encode()),
            (b"docker-content-digest", str(self.info.digest).encode()),
            (b"etag", f'"{self.info.digest}"'.encode()),
            (b"accept-ranges", b"bytes"),
            (b"cache-control", b"max-age=31536000"),
        ]
        status = 200
        if self.range:
            status = 206
            headers.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
        return status, headers, start, length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, start, length = self._headers()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if self.head or length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        path = self.info.local_path
        if self.range is None and path and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": path})
            return
        chunks = self.blobs.read(self.info.digest, start, length)
        if length <= _INLINE_MAX:
            await send({"type": "http.response.body", "body": b"".join(chunks)})
            return
        while True:
            chunk = await anyio.to_thread.run_sync(_next, chunks)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class StreamedBlobResponse:
    """A blob sent while its bytes arrive (``BlobStream``): full length, no Range.

    The first bytes are awaited before the headers, so a fetch that has already failed is
    answered with its error (502 ``UPSTREAM_UNAVAILABLE``); a failure later ends the response
    early (the client sees a short body and retries) and is logged as a warning: it is the
    expected outcome of an upstream that breaks off or sends wrong bytes."""

    def __init__(self, stream: BlobStream, head: bool) -> None:
        self.stream = stream
        self.head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = aiter(self.stream.chunks)
        first = b""
        if not self.head:
            try:
                first = await anext(chunks, b"")
            except TidegateError as exc:
                await oci_error_response(exc)(scope, receive, send)
                return
        digest = str(self.stream.digest).encode()
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(self.stream.size).encode()),
            (b"docker-content-digest", digest),
            (b"etag", b'"' + digest + b'"'),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.head:
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            if first:
                await send({"type": "http.response.body", "body": first, "more_body": True})
            async for chunk in chunks:  # the same iterator, after its first chunk
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except TidegateError as exc:
            # Headers are gone: returning without the last body message makes the server
            # close the connection, which is how a client learns the body is incomplete.
            log.warning("blob response cut short", digest=str(self.stream.digest), error=str(exc))
            return
        await send({"type": "http.response.body", "body": b""})

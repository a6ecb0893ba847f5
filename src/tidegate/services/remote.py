"""Remote repositories: a pull-through cache of one upstream registry (PRODUCT.md §2.2,
docs/remote-virtual.md "Remote").

Cached content lives in the remote repository's own rows (manifests, tags, repository_blobs),
so permissions, isolation, the catalog and garbage collection see it like any repository's.
``db/remote.py`` adds tag freshness, the negative cache and fetch leases.

- Manifests by digest: served from the cache, never revalidated; else fetched, verified
  against the digest, stored. By tag: served while younger than ``tag_ttl``; then one upstream
  HEAD (same digest: the check time is refreshed; another: that manifest is fetched). When the
  upstream is down, slow or rate-limited, a cached copy is served (stale-if-error, counted).
- Blobs: cached ones are served like local ones; others are fetched once (``fetches.py``) and
  streamed to every waiter while they arrive. A HEAD asks the upstream, without downloading.
- An upstream 404 is remembered for ``negative_ttl`` seconds; ``offline`` never asks upstream.
- Writes are refused (UNSUPPORTED).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio.to_thread
import structlog

from tidegate.auth.principals import Principal
from tidegate.blobstore import BlobStore, UploadStore
from tidegate.db import Database
from tidegate.db import content as q
from tidegate.db import remote as remote_q
from tidegate.errors import (
    BlobUnknown,
    DigestInvalid,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    TidegateError,
    Unsupported,
    UpstreamUnavailable,
)
from tidegate.oci.digest import Digest, is_digest
from tidegate.oci.manifest import parse_manifest
from tidegate.oci.names import validate_tag
from tidegate.services.blobs import BlobInfo, BlobService
from tidegate.services.content import BlobStream
from tidegate.services.fetches import POLL_SECONDS, BlobFlight, run_fetch, stream_staged
from tidegate.services.manifests import ManifestService, StoredManifest
from tidegate.services.metrics import RemoteMetrics
from tidegate.services.names import ImageRef
from tidegate.upstream import UpstreamClient, UpstreamConfig, UpstreamNotFound

log = structlog.get_logger("tidegate.remote")

LEASE_SECONDS = 30.0  # a fetch not renewed for this long is taken over by another process
STALE_RETRY_SECONDS = 10.0  # after a failed revalidation, serve the cached tag this long


def _number(ref: ImageRef, key: str, default: float) -> float:
    value = ref.option(key, default)
    return float(value) if isinstance(value, int | float | str) else default


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class RemoteContent:
    """The ``Content`` of kind ``remote``."""

    def __init__(
        self,
        db: Database,
        manifests: ManifestService,
        blobs: BlobService,
        store: BlobStore,
        uploads: UploadStore,
        metrics: RemoteMetrics,
    ) -> None:
        self._db = db
        self._manifests = manifests
        self._blobs = blobs
        self._store = store
        self._uploads = uploads
        self._metrics = metrics
        self._holder = uuid.uuid4().hex
        self._clients: dict[int, tuple[str, UpstreamClient]] = {}
        self._manifest_flights: dict[str, asyncio.Future[StoredManifest]] = {}
        self._blob_flights: dict[str, BlobFlight] = {}
        self._fresh_tags: dict[tuple[int, str, str], tuple[str, float]] = {}

    # --- configuration -------------------------------------------------------------------

    def _client(self, ref: ImageRef) -> UpstreamClient:
        """The repository's upstream client (rebuilt when its options change)."""
        record = ref.repository
        fingerprint = repr(sorted(record.options.items()))
        cached = self._clients.get(record.id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        with self._db.read() as conn:
            password = remote_q.get_secret(conn, record.id, remote_q.UPSTREAM_PASSWORD)
        username = record.options.get("upstream_username")
        config = UpstreamConfig(
            url=str(record.options.get("upstream") or ""),
            username=str(username) if username else None,
            password=password,
            library_prefix=bool(record.options.get("library_prefix", True)),
            timeout=float(record.options.get("upstream_timeout", 30.0)),
        )
        key = record.key
        counter = self._metrics.upstream_requests
        client = UpstreamClient(config, lambda kind: counter.labels(key, kind).inc())
        self._clients[record.id] = (fingerprint, client)
        return client

    @staticmethod
    def _offline(ref: ImageRef) -> bool:
        return bool(ref.option("offline", False))

    def _hit(self, ref: ImageRef, kind: str) -> None:
        self._metrics.cache_hits.labels(ref.repository.key, kind).inc()

    async def _negative(self, ref: ImageRef, reference: str) -> bool:
        def check() -> bool:
            with self._db.read() as conn:
                return remote_q.is_negative(
                    conn, ref.repository_id, ref.image, reference, time.time()
                )

        return await anyio.to_thread.run_sync(check)

    async def _remember_missing(self, ref: ImageRef, reference: str) -> None:
        ttl = _number(ref, "negative_ttl", 60)
        if ttl <= 0:
            return

        def write() -> None:
            with self._db.transaction() as conn:
                remote_q.set_negative(
                    conn, ref.repository_id, ref.image, reference, time.time() + ttl
                )

        await anyio.to_thread.run_sync(write)

    # --- manifests -----------------------------------------------------------------------

    async def manifest(
        self, principal: Principal, ref: ImageRef, reference: str, head: bool
    ) -> StoredManifest:
        try:
            digest = Digest.parse(reference) if is_digest(reference) else None
            if digest is None:
                validate_tag(reference)
        except (DigestInvalid, ManifestInvalid):
            raise ManifestUnknown(
                f"manifest {reference!r} is unknown to {ref.name} (not a valid tag or digest)"
            ) from None
        if digest is not None:
            return await self._by_digest(ref, digest)
        return await self._by_tag(ref, reference)

    def _cached(self, ref: ImageRef, digest: str) -> StoredManifest | None:
        found = self._db.fast.resolve_manifest(ref.repository_id, ref.image, digest, True)
        return StoredManifest(*found) if found else None

    def _unknown(self, ref: ImageRef, reference: str, why: str) -> ManifestUnknown:
        return ManifestUnknown(f"manifest {reference!r} is unknown to {ref.name}: {why}")

    async def _by_digest(self, ref: ImageRef, digest: Digest) -> StoredManifest:
        found = self._cached(ref, str(digest))
        if found is not None:
            self._hit(ref, "manifest")
            return found
        if self._offline(ref):
            raise self._unknown(ref, str(digest), "not cached, and the repository is offline")
        if await self._negative(ref, str(digest)):
            raise self._unknown(ref, str(digest), "the upstream does not have it (remembered)")

        async def recheck() -> StoredManifest | None:
            return self._cached(ref, str(digest))

        async def fetch() -> StoredManifest:
            try:
                return await self._fetch_manifest(ref, str(digest), digest, None)
            except UpstreamNotFound as exc:
                await self._remember_missing(ref, str(digest))
                raise self._unknown(ref, str(digest), str(exc)) from None

        return await self._single(f"m|{ref.repository_id}|{ref.image}|{digest}", fetch, recheck)

    async def _cached_tag(self, ref: ImageRef, tag: str, ttl: float) -> tuple[str, float] | None:
        """(digest, last checked) of a cached tag: from this process's memory while it is
        fresh (a warm pull costs no database round trip), else from the database."""
        key = (ref.repository_id, ref.image, tag)
        seen = self._fresh_tags.get(key)
        if seen is not None and time.time() - seen[1] < ttl:
            return seen

        def read() -> tuple[str, float] | None:
            with self._db.read() as conn:
                return remote_q.cached_tag(conn, ref.repository_id, ref.image, tag)

        found = await anyio.to_thread.run_sync(read)
        if found is not None:
            self._remember_tag(ref, tag, found)
        return found

    def _remember_tag(self, ref: ImageRef, tag: str, value: tuple[str, float] | None) -> None:
        key = (ref.repository_id, ref.image, tag)
        if value is None:
            self._fresh_tags.pop(key, None)
            return
        if len(self._fresh_tags) > 50_000:
            self._fresh_tags.clear()
        self._fresh_tags[key] = value

    async def _by_tag(self, ref: ImageRef, tag: str) -> StoredManifest:
        ttl = _number(ref, "tag_ttl", 300)
        cached = await self._cached_tag(ref, tag, ttl)
        if cached is not None and (self._offline(ref) or time.time() - cached[1] < ttl):
            found = self._cached(ref, cached[0])
            if found is not None:
                self._hit(ref, "manifest")
                return found
        if self._offline(ref):
            raise self._unknown(ref, tag, "not cached, and the repository is offline")
        if await self._negative(ref, tag):
            raise self._unknown(ref, tag, "the upstream does not have it (remembered)")

        async def recheck() -> StoredManifest | None:
            now = await self._cached_tag(ref, tag, ttl)
            if now is not None and time.time() - now[1] < ttl:
                return self._cached(ref, now[0])
            return None

        return await self._single(
            f"m|{ref.repository_id}|{ref.image}|{tag}",
            lambda: self._revalidate(ref, tag, cached[0] if cached else None, ttl),
            recheck,
        )

    async def _revalidate(
        self, ref: ImageRef, tag: str, cached: str | None, ttl: float
    ) -> StoredManifest:
        """One upstream HEAD for a cached tag (a GET for an uncached one); stale-if-error:
        after a failure the cached tag is served without asking again for a short while
        (``STALE_RETRY_SECONDS``, at most the TTL), so a dead or slow upstream does not cost
        every pull a timeout."""
        client = self._client(ref)
        try:
            if cached is None:
                return await self._fetch_manifest(ref, tag, None, tag)
            head = await client.head_manifest(ref.image, tag)
            if head.digest is not None and is_digest(head.digest):
                current = self._cached(ref, head.digest)
                if current is not None:
                    await self._store_tag(ref, tag, head.digest)
                    self._hit(ref, "manifest")
                    return current
                return await self._fetch_manifest(ref, head.digest, Digest.parse(head.digest), tag)
            return await self._fetch_manifest(ref, tag, None, tag)
        except UpstreamUnavailable as exc:
            found = self._cached(ref, cached) if cached else None
            if found is None:
                raise
            self._metrics.served_stale.labels(ref.repository.key).inc()
            retry = min(ttl, STALE_RETRY_SECONDS)
            self._remember_tag(ref, tag, (found.digest, time.time() - ttl + retry))
            log.warning(
                "upstream unavailable: serving cached tag",
                repository=ref.repository.key,
                image=ref.image,
                tag=tag,
                reason=exc.message,
            )
            return found
        except UpstreamNotFound as exc:
            await self._forget_tag(ref, tag)
            await self._remember_missing(ref, tag)
            raise self._unknown(ref, tag, str(exc)) from None

    async def _store_tag(self, ref: ImageRef, tag: str, digest: str) -> None:
        now = time.time()

        def write() -> None:
            with self._db.transaction() as conn:
                q.set_tag(conn, ref.repository_id, ref.image, tag, digest)
                remote_q.mark_checked(conn, ref.repository_id, ref.image, tag, now)

        await anyio.to_thread.run_sync(write)
        self._remember_tag(ref, tag, (digest, now))

    async def _forget_tag(self, ref: ImageRef, tag: str) -> None:
        """The upstream answered that the tag does not exist (any more): so does our copy."""

        def write() -> None:
            with self._db.transaction() as conn:
                q.delete_tag(conn, ref.repository_id, ref.image, tag)

        await anyio.to_thread.run_sync(write)
        self._remember_tag(ref, tag, None)

    async def _fetch_manifest(
        self, ref: ImageRef, reference: str, expected: Digest | None, tag: str | None
    ) -> StoredManifest:
        """GET the manifest, verify its digest, store it (and the tag). Raises
        UpstreamNotFound, UpstreamUnavailable (also for a wrong digest: nothing is kept)."""
        fetched = await self._client(ref).get_manifest(ref.image, reference)
        algorithm = expected.algorithm if expected else "sha256"
        if expected is None and fetched.digest and is_digest(fetched.digest):
            algorithm = Digest.parse(fetched.digest).algorithm
        actual = Digest.of(fetched.content, algorithm)
        claimed = expected or (Digest.parse(fetched.digest) if fetched.digest else None)
        if claimed is not None and actual != claimed:
            self._metrics.rejected.labels(ref.repository.key, "manifest").inc()
            raise UpstreamUnavailable(
                f"the upstream sent manifest {reference!r} with digest {actual}, not {claimed};"
                " it was not kept"
            )
        parsed = parse_manifest(fetched.content, fetched.media_type)

        def write() -> None:
            with self._db.transaction() as conn:
                q.put_manifest(
                    conn,
                    repository_id=ref.repository_id,
                    image=ref.image,
                    digest=str(actual),
                    content=fetched.content,
                    media_type=parsed.media_type,
                    artifact_type=parsed.referrer_artifact_type(),
                    subject=str(parsed.subject.digest) if parsed.subject else None,
                    annotations=parsed.annotations,
                    pushed_by=None,
                    blob_refs=[str(d.digest) for d in parsed.required_blobs()],
                    manifest_refs=[str(d.digest) for d in parsed.children],
                )
                if tag is not None:
                    q.set_tag(conn, ref.repository_id, ref.image, tag, str(actual))
                    remote_q.mark_checked(conn, ref.repository_id, ref.image, tag, now)
                    remote_q.clear_negative(conn, ref.repository_id, ref.image, tag)

        now = time.time()
        await anyio.to_thread.run_sync(write)
        if tag is not None:
            self._remember_tag(ref, tag, (str(actual), now))
        return StoredManifest(str(actual), parsed.media_type, fetched.content)

    async def _single(
        self,
        key: str,
        fetch: Callable[[], Awaitable[StoredManifest]],
        recheck: Callable[[], Awaitable[StoredManifest | None]],
    ) -> StoredManifest:
        """One fetch per key in this process (others await it) and, through a lease row, in
        the deployment (other processes wait for it to end, then look at the cache again)."""
        flight = self._manifest_flights.get(key)
        if flight is None or flight.done():  # a finished one is not joined: ask again
            flight = asyncio.ensure_future(self._leased(key, fetch, recheck))
            self._manifest_flights[key] = flight

            def done(finished: asyncio.Future[StoredManifest]) -> None:
                if self._manifest_flights.get(key) is finished:
                    del self._manifest_flights[key]
                if not finished.cancelled():
                    finished.exception()  # retrieved: no "never retrieved" warning

            flight.add_done_callback(done)
        return await asyncio.shield(flight)

    async def _leased(
        self,
        key: str,
        fetch: Callable[[], Awaitable[StoredManifest]],
        recheck: Callable[[], Awaitable[StoredManifest | None]],
    ) -> StoredManifest:
        while True:
            if await self._take_lease(key):
                try:
                    # double-checked: another process may have finished between our cache
                    # miss and the lease
                    found = await recheck()
                    return found if found is not None else await fetch()
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._release_lease(key)
            await self._await_lease(key)
            found = await recheck()
            if found is not None:
                return found

    async def _take_lease(self, key: str) -> bool:
        def take() -> bool:
            now = time.time()
            with self._db.transaction() as conn:
                return remote_q.take_lease(conn, key, self._holder, now + LEASE_SECONDS, now)

        return await anyio.to_thread.run_sync(take)

    async def _release_lease(self, key: str) -> None:
        def release() -> None:
            with self._db.transaction() as conn:
                remote_q.release_lease(conn, key, self._holder)

        await anyio.to_thread.run_sync(release)

    async def _lease(self, key: str) -> tuple[str, str | None, int | None, float] | None:
        def read() -> tuple[str, str | None, int | None, float] | None:
            with self._db.read() as conn:
                return remote_q.lease(conn, key)

        return await anyio.to_thread.run_sync(read)

    async def _await_lease(self, key: str) -> None:
        while True:
            row = await self._lease(key)
            if row is None or row[3] < time.time():
                return
            await asyncio.sleep(POLL_SECONDS)

    # --- blobs ---------------------------------------------------------------------------

    async def blob(
        self, principal: Principal, ref: ImageRef, digest: Digest, head: bool
    ) -> BlobInfo | BlobStream:
        with contextlib.suppress(BlobUnknown):
            info = self._blobs.stat(ref, digest)
            self._hit(ref, "blob")
            return info
        if self._offline(ref):
            raise BlobUnknown(
                f"blob {digest} is unknown to {ref.name}: not cached, and the repository is offline"
            )
        if await self._negative(ref, str(digest)):
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
            head = await self._client(ref).head_blob(ref.image, str(digest))
        except UpstreamNotFound as exc:
            await self._remember_missing(ref, str(digest))
            raise BlobUnknown(f"blob {digest} is unknown to {ref.name}: {exc}") from None
        return BlobStream(digest, head.size, _nothing())

    async def _fetch_blob(
        self, ref: ImageRef, digest: Digest, flight: BlobFlight, key: str
    ) -> None:
        """The task behind a flight: fetch under the lease, or follow whoever holds it."""
        progress = flight.progress
        try:
            while True:
                if await self._take_lease(key):
                    try:
                        size = await anyio.to_thread.run_sync(self._linked_size, ref, digest)
                        if size is not None:  # fetched elsewhere since our cache miss
                            progress.size, progress.written, progress.done = size, size, True
                            return
                        await self._download(ref, digest, flight, key)
                    finally:
                        with anyio.CancelScope(shield=True):
                            await self._release_lease(key)
                    return
                if await self._follow(ref, digest, flight, key):
                    return
        except UpstreamNotFound as exc:
            await self._remember_missing(ref, str(digest))
            progress.error = BlobUnknown(f"blob {digest} is unknown to {ref.name}: {exc}")
        except Exception as exc:
            progress.error = exc
            if isinstance(exc, UpstreamUnavailable) and "do not match" in exc.message:
                self._metrics.rejected.labels(ref.repository.key, "blob").inc()
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
            def renew() -> None:
                with self._db.transaction() as conn:
                    remote_q.renew_lease(conn, key, self._holder, time.time() + LEASE_SECONDS)

            await anyio.to_thread.run_sync(renew)

        async with self._client(ref).blob(ref.image, str(digest)) as (size, body):
            if size is not None:

                def describe() -> None:
                    with self._db.transaction() as conn:
                        remote_q.describe_lease(conn, key, self._holder, progress.upload_id, size)

                await anyio.to_thread.run_sync(describe)
            await run_fetch(flight, body, size, digest, self._uploads, keep_alive)

        def link() -> None:
            with self._db.transaction() as conn:
                q.add_blob(conn, str(digest), progress.written)
                q.link_blob(conn, ref.repository_id, ref.image, str(digest))
                remote_q.clear_negative(conn, ref.repository_id, ref.image, str(digest))

        await anyio.to_thread.run_sync(link)
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
            row = await self._lease(key)
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

    # --- listings ------------------------------------------------------------------------

    async def tags(
        self, principal: Principal, ref: ImageRef, n: int | None, last: str | None
    ) -> list[str]:
        """The upstream's tags (cache-through); the cached ones when it cannot answer."""
        if not self._offline(ref):
            try:
                found = await self._client(ref).tags(ref.image)
            except UpstreamNotFound as exc:
                raise NameUnknown(
                    f"no image {ref.image!r} in {ref.repository.key!r}: {exc}"
                ) from None
            except UpstreamUnavailable as exc:
                log.warning(
                    "upstream unavailable: listing cached tags",
                    repository=ref.repository.key,
                    image=ref.image,
                    reason=exc.message,
                )
            else:
                selected = [t for t in found if last is None or t > last]
                return selected if n is None else selected[:n]
        return await anyio.to_thread.run_sync(self._manifests.tags, ref, n, last)

    async def referrers(
        self, principal: Principal, ref: ImageRef, subject: Digest, artifact_type: str | None
    ) -> bytes:
        """The upstream's referrers API when it has one, else what is cached."""
        if not self._offline(ref):
            body = await self._client(ref).referrers(ref.image, str(subject), artifact_type)
            if body is not None:
                return body
        return await anyio.to_thread.run_sync(
            self._manifests.referrers, ref, subject, artifact_type
        )

    def push_target(self, principal: Principal, ref: ImageRef) -> ImageRef:
        upstream = ref.option("upstream", "its upstream")
        raise Unsupported(
            f"repository {ref.repository.key!r} is a remote repository (a pull-through cache of"
            f" {upstream}): it cannot be pushed to; push to a local repository, or through a"
            " virtual repository whose default_deploy is local"
        )

"""Remote repositories: a pull-through cache of one upstream registry (PRODUCT.md §2.2,
docs/remote-virtual.md "Remote").

Cached content lives in the remote repository's own rows (manifests, tags, repository_blobs),
so permissions, isolation, the catalog and garbage collection see it like any repository's.
``db/remote.py`` adds tag freshness, the negative cache and fetch leases.

- Manifests by digest: served from the cache, never revalidated; else fetched, verified
  against the digest, stored. By tag: served while younger than ``tag_ttl``; then one upstream
  HEAD (same digest: the check time is refreshed; another: that manifest is fetched). When the
  upstream is down, slow or rate-limited, a cached copy is served (stale-if-error, counted).
- Blobs (``remote_blobs.py``): cached ones are served like local ones; others are fetched once
  and streamed to every waiter while they arrive. A HEAD asks the upstream, without downloading.
- An upstream 404 is remembered for ``negative_ttl`` seconds; ``offline`` never asks upstream.
- Writes are refused (UNSUPPORTED).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import anyio.to_thread
import structlog

from tidegate.auth.principals import Principal
from tidegate.blobstore import BlobStore, UploadStore
from tidegate.db import Database
from tidegate.db import content as q
from tidegate.db import gc as gc_q
from tidegate.db import remote as remote_q
from tidegate.errors import (
    DigestInvalid,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    Unsupported,
    UpstreamUnavailable,
)
from tidegate.oci.digest import Digest, is_digest
from tidegate.oci.manifest import parse_manifest
from tidegate.oci.names import validate_tag
from tidegate.services.blobs import BlobInfo, BlobService
from tidegate.services.content import BlobStream
from tidegate.services.manifests import ManifestService, StoredManifest
from tidegate.services.metrics import RemoteMetrics
from tidegate.services.names import ImageRef
from tidegate.services.remote_blobs import RemoteBlobs
from tidegate.services.upstreams import Upstreams, number
from tidegate.upstream import UpstreamNotFound

log = structlog.get_logger("tidegate.remote")

STALE_RETRY_SECONDS = 10.0  # after a failed revalidation, serve the cached tag this long


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
        self._up = Upstreams(db, metrics)
        self._blob_reads = RemoteBlobs(db, self._up, blobs, store, uploads)
        self._manifest_flights: dict[str, asyncio.Future[StoredManifest]] = {}
        self._fresh_tags: dict[tuple[int, str, str], tuple[str, float]] = {}

    # --- manifests -----------------------------------------------------------------------

    @staticmethod
    def _canonical(ref: ImageRef) -> ImageRef:
        """With ``library_prefix`` a one-part name is its ``library/`` name everywhere: in the
        cache rows too, so ``hub/alpine`` and ``hub/library/alpine`` (and ``HOST/alpine``
        through a virtual) are one cached image, fetched once."""
        if "/" in ref.image or not ref.option("library_prefix", True):
            return ref
        return ImageRef(ref.repository, f"library/{ref.image}")

    async def manifest(
        self, principal: Principal, ref: ImageRef, reference: str, head: bool
    ) -> StoredManifest:
        ref = self._canonical(ref)
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
            self._up.hit(ref, "manifest")
            return found
        if self._up.offline(ref):
            raise self._unknown(ref, str(digest), "not cached, and the repository is offline")
        if await self._up.negative(ref, str(digest)):
            raise self._unknown(ref, str(digest), "the upstream does not have it (remembered)")

        async def recheck() -> StoredManifest | None:
            return self._cached(ref, str(digest))

        async def fetch() -> StoredManifest:
            try:
                return await self._fetch_manifest(ref, str(digest), digest, None)
            except UpstreamNotFound as exc:
                await self._up.remember_missing(ref, str(digest))
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
        ttl = number(ref, "tag_ttl", 300)
        cached = await self._cached_tag(ref, tag, ttl)
        if cached is not None and (self._up.offline(ref) or time.time() - cached[1] < ttl):
            found = self._cached(ref, cached[0])
            if found is not None:
                self._up.hit(ref, "manifest")
                return found
        if self._up.offline(ref):
            raise self._unknown(ref, tag, "not cached, and the repository is offline")
        if await self._up.negative(ref, tag):
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
        client = self._up.client(ref)
        try:
            if cached is None:
                return await self._fetch_manifest(ref, tag, None, tag)
            head = await client.head_manifest(ref.image, tag)
            if head.digest is not None and is_digest(head.digest):
                current = self._cached(ref, head.digest)
                if current is not None:
                    await self._store_tag(ref, tag, head.digest)
                    self._up.hit(ref, "manifest")
                    return current
                return await self._fetch_manifest(ref, head.digest, Digest.parse(head.digest), tag)
            return await self._fetch_manifest(ref, tag, None, tag)
        except UpstreamUnavailable as exc:
            found = self._cached(ref, cached) if cached else None
            if found is None:
                raise
            self._up.metrics.served_stale.labels(ref.repository.key).inc()
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
            await self._up.remember_missing(ref, tag)
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
        fetched = await self._up.client(ref).get_manifest(ref.image, reference)
        algorithm = expected.algorithm if expected else "sha256"
        if expected is None and fetched.digest and is_digest(fetched.digest):
            algorithm = Digest.parse(fetched.digest).algorithm
        actual = Digest.of(fetched.content, algorithm)
        claimed = expected or (Digest.parse(fetched.digest) if fetched.digest else None)
        if claimed is not None and actual != claimed:
            self._up.metrics.rejected.labels(ref.repository.key, "manifest").inc()
            raise UpstreamUnavailable(
                f"the upstream sent manifest {reference!r} with digest {actual}, not {claimed};"
                " it was not kept"
            )
        parsed = parse_manifest(fetched.content, fetched.media_type)

        def write() -> None:
            with self._db.transaction() as conn:
                gc_q.lock_digests(conn, [str(actual)])  # its bytes: see db/gc.py
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
            if await self._up.take_lease(key):
                try:
                    # double-checked: another process may have finished between our cache
                    # miss and the lease
                    found = await recheck()
                    return found if found is not None else await fetch()
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._up.release_lease(key)
            await self._up.await_lease(key)
            found = await recheck()
            if found is not None:
                return found

    # --- blobs ---------------------------------------------------------------------------

    async def blob(
        self, principal: Principal, ref: ImageRef, digest: Digest, head: bool
    ) -> BlobInfo | BlobStream:
        return await self._blob_reads.blob(self._canonical(ref), digest, head)

    # --- listings ------------------------------------------------------------------------

    async def tags(
        self, principal: Principal, ref: ImageRef, n: int | None, last: str | None
    ) -> list[str]:
        """The upstream's tags (cache-through); the cached ones when it cannot answer."""
        ref = self._canonical(ref)
        if not self._up.offline(ref):
            try:
                found = await self._up.client(ref).tags(ref.image)
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
        ref = self._canonical(ref)
        if not self._up.offline(ref):
            body = await self._up.client(ref).referrers(ref.image, str(subject), artifact_type)
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

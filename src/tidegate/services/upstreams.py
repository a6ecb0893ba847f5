"""What every use case of a remote repository shares: its upstream client, the offline
switch, the negative cache, the cross-process fetch leases and the counters."""

from __future__ import annotations

import asyncio
import time
import uuid

import anyio.to_thread

from tidegate.db import Database
from tidegate.db import remote as remote_q
from tidegate.services.fetches import POLL_SECONDS
from tidegate.services.metrics import RemoteMetrics
from tidegate.services.names import ImageRef
from tidegate.upstream import UpstreamClient, UpstreamConfig

LEASE_SECONDS = 30.0  # a fetch not renewed for this long is taken over by another process


def number(ref: ImageRef, key: str, default: float) -> float:
    value = ref.option(key, default)
    return float(value) if isinstance(value, int | float | str) else default


class Upstreams:
    def __init__(self, db: Database, metrics: RemoteMetrics) -> None:
        self._db = db
        self.metrics = metrics
        self.holder = uuid.uuid4().hex
        self._clients: dict[int, tuple[str, UpstreamClient]] = {}

    def client(self, ref: ImageRef) -> UpstreamClient:
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
        counter = self.metrics.upstream_requests
        client = UpstreamClient(config, lambda kind: counter.labels(key, kind).inc())
        self._clients[record.id] = (fingerprint, client)
        return client

    @staticmethod
    def offline(ref: ImageRef) -> bool:
        return bool(ref.option("offline", False))

    def hit(self, ref: ImageRef, kind: str) -> None:
        self.metrics.cache_hits.labels(ref.repository.key, kind).inc()

    async def negative(self, ref: ImageRef, reference: str) -> bool:
        def check() -> bool:
            with self._db.read() as conn:
                return remote_q.is_negative(
                    conn, ref.repository_id, ref.image, reference, time.time()
                )

        return await anyio.to_thread.run_sync(check)

    async def remember_missing(self, ref: ImageRef, reference: str) -> None:
        ttl = number(ref, "negative_ttl", 60)
        if ttl <= 0:
            return

        def write() -> None:
            with self._db.transaction() as conn:
                remote_q.set_negative(
                    conn, ref.repository_id, ref.image, reference, time.time() + ttl
                )

        await anyio.to_thread.run_sync(write)

    # --- leases: one fetch per key in the deployment ------------------------------------

    async def take_lease(self, key: str) -> bool:
        def take() -> bool:
            now = time.time()
            with self._db.transaction() as conn:
                return remote_q.take_lease(conn, key, self.holder, now + LEASE_SECONDS, now)

        return await anyio.to_thread.run_sync(take)

    async def release_lease(self, key: str) -> None:
        def release() -> None:
            with self._db.transaction() as conn:
                remote_q.release_lease(conn, key, self.holder)

        await anyio.to_thread.run_sync(release)

    async def lease(self, key: str) -> tuple[str, str | None, int | None, float] | None:
        def read() -> tuple[str, str | None, int | None, float] | None:
            with self._db.read() as conn:
                return remote_q.lease(conn, key)

        return await anyio.to_thread.run_sync(read)

    async def await_lease(self, key: str) -> None:
        while True:
            row = await self.lease(key)
            if row is None or row[3] < time.time():
                return
            await asyncio.sleep(POLL_SECONDS)

    async def renew_lease(self, key: str) -> None:
        def renew() -> None:
            with self._db.transaction() as conn:
                remote_q.renew_lease(conn, key, self.holder, time.time() + LEASE_SECONDS)

        await anyio.to_thread.run_sync(renew)

    async def describe_lease(self, key: str, upload_id: str, size: int) -> None:
        def describe() -> None:
            with self._db.transaction() as conn:
                remote_q.describe_lease(conn, key, self.holder, upload_id, size)

        await anyio.to_thread.run_sync(describe)

"""Prometheus metrics (docs/events.md lists them): requests by route template and status,
bytes in and out, uploads, promotions, event deliveries, the pull-through cache's counters and
garbage collection results.

One ``Metrics`` per process, built by the composition root. When ``tidegate serve`` runs
several workers it gives them a shared directory (``PROMETHEUS_MULTIPROC_DIR``, made fresh per
run under ``data_dir``): every process then writes its counters there and ``GET /metrics``
answers the sum over all workers, whichever worker serves it.

The request counters are on the ``/v2`` hot path: ``observe`` looks the labelled child up in
a plain dict first (one dict lookup and one ``inc`` per counter and request).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class RemoteMetrics:
    """The pull-through cache (PRODUCT.md §2.2): upstream requests made, requests the cache
    saved, answers served stale, upstream content refused."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.upstream_requests = Counter(
            "tidegate_upstream_requests",
            "HTTP requests a remote repository sent to its upstream registry",
            ["repository", "kind"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "tidegate_remote_cache_hits",
            "Requests to a remote repository answered from the cache (upstream requests saved)",
            ["repository", "kind"],
            registry=self.registry,
        )
        self.served_stale = Counter(
            "tidegate_remote_served_stale",
            "Cached tags served past their TTL because the upstream could not be reached",
            ["repository"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "tidegate_remote_rejected",
            "Upstream content refused: wrong digest or size, or a body that broke off",
            ["repository", "kind"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class Metrics(RemoteMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.requests = Counter(
            "tidegate_http_requests",
            "HTTP requests answered, by route template, method and status code",
            ["route", "method", "status"],
            registry=r,
        )
        self.bytes_in = Counter(
            "tidegate_http_request_bytes",
            "Bytes of request bodies received, by route template",
            ["route"],
            registry=r,
        )
        self.bytes_out = Counter(
            "tidegate_http_response_bytes",
            "Bytes of response bodies sent (Content-Length, or counted), by route template",
            ["route"],
            registry=r,
        )
        self.uploads = Counter(
            "tidegate_uploads_completed",
            "Blob uploads completed (monolithic or chunked), by repository",
            ["repository"],
            registry=r,
        )
        self.upload_bytes = Counter(
            "tidegate_upload_bytes",
            "Bytes of completed blob uploads, by repository",
            ["repository"],
            registry=r,
        )
        self.promotions = Counter(
            "tidegate_promotions",
            "Promotions by outcome (promoted or refused by the gate) and target repository",
            ["target", "outcome"],
            registry=r,
        )
        self.deliveries = Counter(
            "tidegate_event_deliveries",
            "Event delivery attempts by kind (webhook, email) and outcome (succeeded, failed)",
            ["kind", "outcome"],
            registry=r,
        )
        self.events_fanned_out = Counter(
            "tidegate_events_processed",
            "Outbox events turned into deliveries (one per event, however many subscribers)",
            registry=r,
        )
        # Garbage collection (issue 6 calls gc_completed at the end of every run).
        self.gc_runs = Counter(
            "tidegate_gc_runs", "Garbage collection runs by outcome", ["outcome"], registry=r
        )
        self.gc_blobs_deleted = Counter(
            "tidegate_gc_blobs_deleted", "Blobs garbage collection removed", registry=r
        )
        self.gc_bytes_freed = Counter(
            "tidegate_gc_bytes_freed", "Bytes garbage collection freed", registry=r
        )
        self.gc_last_run = Gauge(
            "tidegate_gc_last_run_timestamp_seconds",
            "When the last garbage collection run finished (seconds since the epoch)",
            registry=r,
            multiprocess_mode="max",
        )
        self.gc_last_duration = Gauge(
            "tidegate_gc_last_run_duration_seconds",
            "How long the last garbage collection run took",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._in_children: dict[str, Counter] = {}
        self._out_children: dict[str, Counter] = {}

    def observe(self, route: str, method: str, status: int, size_in: int, size_out: int) -> None:
        """One answered request (hot path: cached children, no label formatting)."""
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(route, method, str(status))
        child.inc()
        if size_in:
            counter = self._in_children.get(route)
            if counter is None:
                counter = self._in_children[route] = self.bytes_in.labels(route)
            counter.inc(size_in)
        if size_out:
            counter = self._out_children.get(route)
            if counter is None:
                counter = self._out_children[route] = self.bytes_out.labels(route)
            counter.inc(size_out)

    def gc_completed(
        self, outcome: str, blobs_deleted: int, bytes_freed: int, duration: float, at: float
    ) -> None:
        self.gc_runs.labels(outcome).inc()
        self.gc_blobs_deleted.inc(blobs_deleted)
        self.gc_bytes_freed.inc(bytes_freed)
        self.gc_last_run.set(at)
        self.gc_last_duration.set(duration)

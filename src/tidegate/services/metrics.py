"""Prometheus counters of the pull-through cache (PRODUCT.md §2.2: upstream requests made,
requests the cache saved, answers served stale). One registry per process, built by the
composition root; ``GET /metrics`` renders it. Workers do not aggregate: each process counts
its own requests (issue 7 adds multi-process aggregation)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest


class RemoteMetrics:
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
        return generate_latest(self.registry)

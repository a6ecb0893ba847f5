"""The OCI distribution client a remote repository uses to reach its upstream registry.

Owns: HTTP to the upstream (httpx), Basic credentials and the Docker token flow, name mapping
(``library/``), and translating upstream answers into ``UpstreamNotFound`` /
``UpstreamUnavailable``. Imports ``tidegate.oci`` and ``tidegate.errors`` only; knows nothing
of databases, storage or our HTTP layer. Never logs credentials or tokens.
"""

from tidegate.upstream.client import (
    BlobHead,
    FetchedManifest,
    UpstreamClient,
    UpstreamConfig,
    UpstreamNotFound,
)

__all__ = ["BlobHead", "FetchedManifest", "UpstreamClient", "UpstreamConfig", "UpstreamNotFound"]

"""Around every request: forwarded headers only from trusted proxies, route labels, ids."""

from __future__ import annotations

from typing import Any

from tidegate.http.observe import TrustedProxies
from tidegate.http.v2.router import ROUTES


def scope(peer: str, **headers: str) -> dict[str, Any]:
    return {
        "client": (peer, 40000),
        "scheme": "http",
        "headers": [(b"host", b"10.0.0.5:5000")]
        + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


FORWARDED = {
    "x_forwarded_for": "198.51.100.7, 203.0.113.9, 10.0.0.2",
    "x_forwarded_proto": "https",
    "x_forwarded_host": "registry.example.com",
}


def test_a_trusted_proxy_sets_client_scheme_and_host() -> None:
    s = scope("10.0.0.1", **FORWARDED)
    TrustedProxies(["10.0.0.0/24"]).apply(s)
    # 10.0.0.2 is a proxy too: the client is the nearest address that is not
    assert s["client"][0] == "203.0.113.9"
    assert s["scheme"] == "https"
    assert (b"host", b"registry.example.com") in s["headers"]
    assert (b"host", b"10.0.0.5:5000") not in s["headers"]


def test_anyone_else_is_ignored() -> None:
    s = scope("192.0.2.10", **FORWARDED)
    TrustedProxies(["10.0.0.0/24"]).apply(s)
    assert s["client"][0] == "192.0.2.10" and s["scheme"] == "http"
    assert (b"host", b"10.0.0.5:5000") in s["headers"]


def test_an_unknown_proto_is_ignored() -> None:
    s = scope("10.0.0.1", x_forwarded_proto="gopher")
    TrustedProxies(["10.0.0.1/32"]).apply(s)
    assert s["scheme"] == "http"


def test_every_v2_route_has_a_template_label() -> None:
    labels = {r.label for r in ROUTES}
    assert "/v2/{name}/manifests/{reference}" in labels
    assert "/v2/{name}/blobs/uploads/{uuid}" in labels
    assert all("(" not in label and "?" not in label for label in labels)

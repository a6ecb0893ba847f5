"""Authentication as the suite drives it (A.2): the ping, and the Docker token flow: an
anonymous request gets a 401 whose Bearer challenge has quoted realm, service and scope; the
realm answers a Basic-authenticated GET with a JSON token; the retry with it succeeds."""

from __future__ import annotations

import re

import httpx

from tests.support.server import RunningServer

from ._registry import SuiteAuth, describe, expect


def test_ping(server: RunningServer, suite_client: httpx.Client) -> None:
    """GET /v2/ after at most one authentication retry (the very old suite: 200)."""
    expect(suite_client.get("/v2/"), 200, what="GET /v2/")


def test_token_flow(server: RunningServer, repo1: str) -> None:
    url = f"{server.url}/v2/{repo1}/tags/list"
    r = httpx.get(url)
    expect(r, 401, what="anonymous request")
    challenge = r.headers.get("www-authenticate", "")
    assert re.match(r"(?i)^\s*bearer\b", challenge), f"not a Bearer challenge{describe(r)}"
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    assert {"realm", "service", "scope"} <= set(params), f"unquoted parameters{describe(r)}"
    kind, name, actions = params["scope"].split(":")
    assert (kind, name) == ("repository", repo1), describe(r)
    assert "pull" in actions.split(","), describe(r)
    realm = r.request.url.join(params["realm"])
    t = httpx.get(
        realm,
        params={"service": params["service"], "scope": params["scope"]},
        headers={"Accept": "application/json"},
        auth=server.auth,
    )
    expect(t, 200, what="token request")
    body = t.json()
    token = body.get("access_token") or body.get("token")
    assert token, describe(t)
    retry = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    expect(retry, 200, 404, what="retry with the token")  # 404: nothing pushed yet (A.4)


def test_suite_client_uses_the_token_flow(suite_client: httpx.Client, repo1: str) -> None:
    """The conformance client got its access from the 401 challenge: a cached Bearer header."""
    expect(suite_client.get(f"/v2/{repo1}/referrers/sha256:{'0' * 64}"), 200)
    auth = suite_client.auth
    assert isinstance(auth, SuiteAuth)
    cached = auth.cache.get(("127.0.0.1", repo1, "pull"), "")
    assert cached.startswith("Bearer "), f"expected a cached Bearer header, got {cached[:12]!r}"

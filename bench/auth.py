"""Credentials for one target: a static Basic header, or a Docker bearer token fetched from the
realm in the 401 challenge and refreshed before it gets old. Load tools get the header as a
string once per measurement (no auth round-trip inside a timed run)."""

from __future__ import annotations

import base64
import re
import time
from urllib.parse import urljoin

import httpx

_PARAM = re.compile(r'(\w+)="([^"]*)"')


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_PARAM.findall(rest))


class Credentials:
    """mode: "basic", "bearer", "auto" (follow the server's 401 challenge on GET /v2/), or
    "none" (the server has auth off)."""

    def __init__(self, base_url: str, user: str, password: str, repo: str, mode: str) -> None:
        self.base_url = base_url
        self.user = user
        self.password = password
        self.scope = f"repository:{repo}:pull,push"
        self.requested = mode
        self.mode = mode
        self._challenge: dict[str, str] = {}
        self._token = ""
        self._token_deadline = 0.0

    def resolve(self) -> None:
        """Probe GET /v2/ without credentials and settle the mode ("none": no probe; the
        Basic header is still sent, and ignored, so requests stay byte-for-byte alike)."""
        if self.mode == "none":
            return
        r = httpx.get(urljoin(self.base_url, "/v2/"), timeout=10)
        if r.status_code != 401:
            raise RuntimeError(f"{self.base_url}/v2/ answered {r.status_code} without credentials")
        scheme, params = parse_challenge(r.headers.get("www-authenticate", ""))
        if self.mode == "auto":
            self.mode = "bearer" if scheme == "bearer" else "basic"
        if self.mode == "bearer":
            if scheme != "bearer" or "realm" not in params:
                raise RuntimeError(f"bearer auth requested but the challenge is {scheme!r}")
            self._challenge = params

    def header(self) -> str:
        """Authorization header value valid for at least half the token's lifetime."""
        if self.mode in ("basic", "none"):
            return basic_header(self.user, self.password)
        if time.monotonic() >= self._token_deadline:
            self._fetch_token()
        return "Bearer " + self._token

    def _fetch_token(self) -> None:
        realm = urljoin(self.base_url, self._challenge["realm"])
        params = {"scope": self.scope}
        if "service" in self._challenge:
            params["service"] = self._challenge["service"]
        r = httpx.get(realm, params=params, auth=(self.user, self.password), timeout=10)
        r.raise_for_status()
        body = r.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RuntimeError(f"token endpoint {realm} returned no token")
        lifetime = float(body.get("expires_in") or 60)
        self._token = str(token)
        self._token_deadline = time.monotonic() + lifetime / 2

    def describe(self) -> str:
        return self.mode if self.mode == self.requested else f"{self.mode} ({self.requested})"

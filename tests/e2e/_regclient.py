"""A raw HTTP client for the distribution API, for byte-exact pushes and API checks.

Answers the registry's challenge itself: Basic (reference registry) or Docker token auth (Bearer
realm/service/scope, the token fetched with Basic credentials), and records every call so a failing
assertion can show what was said on the wire.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import urljoin

import httpx

from ._oci import MANIFEST_ACCEPT, sha256_digest

_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryHTTP:
    """Distribution API calls against http://HOST with one user's credentials."""

    def __init__(self, host: str, username: str | None, password: str | None) -> None:
        self.base = f"http://{host}"
        self.username = username
        self.password = password
        self.http = httpx.Client(timeout=120.0)
        self.calls: list[str] = []
        self._auth: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ auth
    def _basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _answer(self, challenge: str, scope: str) -> str | None:
        """The Authorization header value that answers `challenge`, or None."""
        if self.username is None:
            return None
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            return self._basic()
        if scheme != "bearer":
            return None
        params = dict(_PARAM.findall(challenge))
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        # ask for what this call's operation needs (e.g. pull,push for an upload), like c/image
        # does; the challenge's scope may name only the current request's action
        if scope or params.get("scope"):
            query["scope"] = scope or params["scope"]
        r = self.http.get(params["realm"], params=query, headers={"Authorization": self._basic()})
        self.calls.append(f"GET {params['realm']} {query} -> {r.status_code}")
        if r.status_code != 200:
            return None
        body = r.json()
        token = body.get("token") or body.get("access_token")
        return f"Bearer {token}" if token else None

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str = "",
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call; on a challenge (401, or 403 with WWW-Authenticate) answer it, retry once."""
        url = urljoin(self.base + "/", path)
        hdrs = dict(headers or {})
        if scope in self._auth:
            hdrs["Authorization"] = self._auth[scope]
        r = self.http.request(method, url, headers=hdrs, content=content, params=params)
        self.calls.append(f"{method} {r.request.url} -> {r.status_code}")
        if r.status_code == 401 or (r.status_code == 403 and "WWW-Authenticate" in r.headers):
            answer = self._answer(r.headers.get("WWW-Authenticate", ""), scope)
            if answer is not None:
                self._auth[scope] = answer
                hdrs["Authorization"] = answer
                r = self.http.request(method, url, headers=hdrs, content=content, params=params)
                self.calls.append(f"{method} {r.request.url} -> {r.status_code} (after auth)")
        return r

    def transcript(self) -> str:
        return "\n".join(self.calls[-30:])

    # ------------------------------------------------------------------ API
    @staticmethod
    def scope(name: str, actions: str = "pull,push") -> str:
        return f"repository:{name}:{actions}"

    def ping(self) -> httpx.Response:
        return self.request("GET", "/v2/")

    def get_manifest(self, name: str, ref: str, accept: str = MANIFEST_ACCEPT) -> httpx.Response:
        return self.request(
            "GET", f"/v2/{name}/manifests/{ref}", scope=self.scope(name), headers={"Accept": accept}
        )

    def head_manifest(self, name: str, ref: str, accept: str = MANIFEST_ACCEPT) -> httpx.Response:
        return self.request(
            "HEAD",
            f"/v2/{name}/manifests/{ref}",
            scope=self.scope(name),
            headers={"Accept": accept},
        )

    def put_manifest(self, name: str, ref: str, data: bytes, media_type: str) -> httpx.Response:
        return self.request(
            "PUT",
            f"/v2/{name}/manifests/{ref}",
            scope=self.scope(name),
            headers={"Content-Type": media_type},
            content=data,
        )

    def head_blob(self, name: str, digest: str) -> httpx.Response:
        return self.request("HEAD", f"/v2/{name}/blobs/{digest}", scope=self.scope(name))

    def push_blob(self, name: str, data: bytes) -> str:
        """Upload `data` (POST, then PUT ?digest= with the body) unless present; its digest."""
        digest = sha256_digest(data)
        if self.head_blob(name, digest).status_code == 200:
            return digest
        r = self.request("POST", f"/v2/{name}/blobs/uploads/", scope=self.scope(name))
        assert r.status_code == 202, f"upload POST -> {r.status_code} {r.text}\n{self.transcript()}"
        # keep the query the registry put in Location (session state), add the digest to it
        location = httpx.URL(urljoin(self.base + "/", r.headers["Location"]))
        r = self.request(
            "PUT",
            str(location.copy_merge_params({"digest": digest})),
            scope=self.scope(name),
            headers={"Content-Type": "application/octet-stream"},
            content=data,
        )
        assert r.status_code == 201, f"upload PUT -> {r.status_code} {r.text}\n{self.transcript()}"
        return digest

    def referrers(self, name: str, digest: str, artifact_type: str | None = None) -> httpx.Response:
        params = {"artifactType": artifact_type} if artifact_type else None
        return self.request(
            "GET", f"/v2/{name}/referrers/{digest}", scope=self.scope(name, "pull"), params=params
        )

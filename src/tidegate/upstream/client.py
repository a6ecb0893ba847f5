"""One upstream registry, reached with httpx (one ``AsyncClient`` per remote repository, reused).

Authentication: no credentials until the upstream asks. A ``Basic`` challenge switches the
client to Basic for good; a ``Bearer`` challenge (the Docker token flow) sends a GET to the
realm with ``service`` and ``scope`` (Basic credentials when configured), caches the token per
scope until it expires, and retries the request once. Redirects are followed (Docker Hub sends
blobs from a CDN; httpx drops ``Authorization`` when the origin changes).

Errors: a 404 (and a 401/403 that survives authentication: Docker Hub's answer for names that
do not exist) raises ``UpstreamNotFound``; credentials the upstream refuses (Basic, or its token
service) raise ``UpstreamUnavailable``, as does anything else that is not an answer: connection
refused, timeouts, 429, 5xx, a body that breaks off.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from tidegate.errors import UpstreamUnavailable
from tidegate.oci import mediatypes as mt
from tidegate.oci.manifest import MAX_MANIFEST_BYTES

MANIFEST_ACCEPT = ", ".join(
    [mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_TOKEN_MARGIN = 5.0  # seconds: renew a token a little before the upstream says it expires
_MAX_TAG_PAGES = 50


class UpstreamNotFound(Exception):
    """The upstream says it does not have the name or reference (or refuses to say)."""


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    library_prefix: bool = True
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    content: bytes
    media_type: str
    digest: str | None  # the upstream's Docker-Content-Digest header, when it sent one


@dataclass(frozen=True, slots=True)
class BlobHead:
    size: int
    digest: str | None


@dataclass(frozen=True, slots=True)
class ManifestHead:
    digest: str | None
    media_type: str
    size: int | None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def _what(name: str, path: str) -> str:
    """``name:tag``, ``name@digest``, ``blob D of name``: what a request asked for, in words."""
    kind, _, reference = path.partition("/")
    if kind == "manifests" and reference:
        return f"{name}@{reference}" if ":" in reference else f"{name}:{reference}"
    if kind == "blobs" and reference:
        return f"blob {reference} of {name}"
    return name


class UpstreamClient:
    def __init__(
        self, config: UpstreamConfig, on_request: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self._base = config.url.rstrip("/")
        self._host = httpx.URL(self._base).host
        self._on_request = on_request or (lambda kind: None)
        self._basic = False
        self._tokens: dict[str, tuple[str, float]] = {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            headers={"User-Agent": "tidegate (pull-through cache)"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def upstream_name(self, image: str) -> str:
        """Docker Hub style: a one-part name is ``library/<name>`` upstream."""
        if self.config.library_prefix and "/" not in image:
            return f"library/{image}"
        return image

    # --- authentication ------------------------------------------------------------------

    def _credentials(self) -> httpx.BasicAuth | None:
        if self.config.username is None:
            return None
        return httpx.BasicAuth(self.config.username, self.config.password or "")

    def _auth_headers(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token is not None and token[1] > time.monotonic():
            return {"Authorization": f"Bearer {token[0]}"}
        if self._basic and self.config.username is not None:
            pair = f"{self.config.username}:{self.config.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    async def _authenticate(self, header: str, scope: str, sent: str | None) -> bool:
        """Answer a challenge to a request sent with ``sent`` (its Authorization header, or
        None); False when there is nothing more to try. Requests refused at once (a fresh
        client's first requests all meet the challenge) each retry with what the first one
        obtained, instead of taking the challenge for a refusal."""
        scheme, params = _challenge(header)
        if scheme == "basic":
            if self.config.username is None:
                return False
            if (sent or "").startswith("Basic "):
                raise self._credentials_refused()
            self._basic = True
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        current = self._auth_headers(scope).get("Authorization")
        if current is not None and current != sent and current.startswith("Bearer "):
            return True  # another request fetched a token meanwhile
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        self._on_request("token")
        try:
            response = await self._http.get(
                params["realm"],
                params={k: v for k, v in query.items() if v},
                auth=self._credentials(),
            )
        except httpx.HTTPError as exc:
            raise self._unavailable(
                f"its token service did not answer ({type(exc).__name__})"
            ) from None
        if response.status_code in (401, 403):
            if self.config.username is not None:
                raise self._credentials_refused()
            return False
        if response.status_code != 200:
            raise self._unavailable(f"its token service answered {response.status_code}")
        try:
            body = response.json()
            token = str(body.get("token") or body.get("access_token"))
            expires_in = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError):
            raise self._unavailable(
                "its token service sent an answer that is not a token"
            ) from None
        self._tokens[scope] = (token, time.monotonic() + max(expires_in - _TOKEN_MARGIN, 1.0))
        return True

    def _credentials_refused(self) -> UpstreamUnavailable:
        """Wrong upstream credentials are an outage of the remote, not a missing image: the
        cache keeps serving what it holds and nothing is remembered as missing."""
        return self._unavailable(
            f"it refused our credentials (user {self.config.username!r}): check the"
            " repository's upstream_username and upstream_password"
        )

    def _unavailable(self, what: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"the upstream registry {self._host} is unavailable: {what}")

    # --- requests ------------------------------------------------------------------------

    async def _send(
        self, method: str, name: str, path: str, kind: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Send with authentication; the response is open (streamed): the caller closes it.
        Raises UpstreamNotFound or UpstreamUnavailable."""
        scope = f"repository:{name}:pull"
        url = f"{self._base}/v2/{name}/{path}"
        for attempt in range(2):
            auth = self._auth_headers(scope)
            request = self._http.build_request(method, url, headers={**(headers or {}), **auth})
            self._on_request(kind)
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TimeoutException:
                raise self._unavailable(f"no answer within {self.config.timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise self._unavailable(f"cannot connect ({type(exc).__name__})") from None
            status = response.status_code
            if status == 401 and attempt == 0:
                challenge = response.headers.get("www-authenticate", "")
                await response.aclose()
                if await self._authenticate(challenge, scope, auth.get("Authorization")):
                    continue
                raise UpstreamNotFound(
                    f"the upstream registry {self._host} refuses access to {name}: it does not"
                    " exist there or needs other credentials"
                )
            if status < 300:
                return response
            await response.aclose()
            if status == 401 and auth.get("Authorization", "").startswith("Basic "):
                raise self._credentials_refused()
            if status in (401, 403, 404):
                raise UpstreamNotFound(
                    f"the upstream registry {self._host} does not know {_what(name, path)}"
                )
            if status == 429:
                raise self._unavailable("it is rate-limiting us (429 Too Many Requests)")
            raise self._unavailable(f"it answered {status}")
        raise AssertionError("unreachable")  # pragma: no cover

    async def head_manifest(self, image: str, reference: str) -> ManifestHead:
        name = self.upstream_name(image)
        response = await self._send(
            "HEAD", name, f"manifests/{reference}", "manifest_head", {"Accept": MANIFEST_ACCEPT}
        )
        await response.aclose()
        length = response.headers.get("content-length")
        return ManifestHead(
            response.headers.get("docker-content-digest"),
            mt.content_type_base(response.headers.get("content-type")),
            int(length) if length and length.isdigit() else None,
        )

    async def get_manifest(self, image: str, reference: str) -> FetchedManifest:
        name = self.upstream_name(image)
        response = await self._send(
            "GET", name, f"manifests/{reference}", "manifest_get", {"Accept": MANIFEST_ACCEPT}
        )
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > MAX_MANIFEST_BYTES:
                    raise self._unavailable(f"manifest {reference} is larger than 4 MiB")
                parts.append(chunk)
        except httpx.HTTPError as exc:
            raise self._unavailable(f"the manifest broke off ({type(exc).__name__})") from None
        finally:
            await response.aclose()
        return FetchedManifest(
            b"".join(parts),
            mt.content_type_base(response.headers.get("content-type")),
            response.headers.get("docker-content-digest"),
        )

    async def head_blob(self, image: str, digest: str) -> BlobHead:
        response = await self._send(
            "HEAD", self.upstream_name(image), f"blobs/{digest}", "blob_head"
        )
        await response.aclose()
        length = response.headers.get("content-length")
        if not (length and length.isdigit()):
            raise self._unavailable(f"it sent no size for blob {digest}")
        return BlobHead(int(length), response.headers.get("docker-content-digest"))

    @asynccontextmanager
    async def blob(
        self, image: str, digest: str
    ) -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
        """(size if announced, the body's chunks). A body that breaks off raises
        UpstreamUnavailable from the iterator."""
        response = await self._send("GET", self.upstream_name(image), f"blobs/{digest}", "blob_get")

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:
                raise self._unavailable(f"blob {digest} broke off ({type(exc).__name__})") from None

        length = response.headers.get("content-length")
        try:
            yield (int(length) if length and length.isdigit() else None), chunks()
        finally:
            await response.aclose()

    async def tags(self, image: str) -> list[str]:
        """Every tag of ``image`` upstream (following ``Link`` pages)."""
        name = self.upstream_name(image)
        found: list[str] = []
        path = "tags/list?n=1000"
        for _ in range(_MAX_TAG_PAGES):
            response = await self._send("GET", name, path, "tags")
            try:
                await response.aread()
                body = response.json()
            except (ValueError, httpx.HTTPError):
                raise self._unavailable("its tag list is not JSON") from None
            finally:
                await response.aclose()
            found.extend(str(t) for t in body.get("tags") or [])
            link = response.headers.get("link", "")
            match = re.match(r"<([^>]+)>", link)
            if not match:
                break
            target = urljoin(f"{self._base}/v2/{name}/tags/list", match.group(1))
            path = target.split(f"/v2/{name}/", 1)[-1]
        return sorted(set(found))

    async def referrers(self, image: str, digest: str, artifact_type: str | None) -> bytes | None:
        """The upstream's referrers index, or None when it has no referrers API."""
        path = f"referrers/{digest}"
        if artifact_type:
            path += f"?artifactType={artifact_type}"
        try:
            response = await self._send("GET", self.upstream_name(image), path, "referrers")
        except (UpstreamNotFound, UpstreamUnavailable):
            return None
        try:
            body = await response.aread()
        except httpx.HTTPError:
            return None
        finally:
            await response.aclose()
        if mt.content_type_base(response.headers.get("content-type")) != mt.OCI_INDEX:
            return None
        return body

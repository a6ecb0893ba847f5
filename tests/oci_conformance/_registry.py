"""The HTTP side of the conformance port: the suite's authentication flow, the blob upload
methods, manifest push, and the checks every workflow repeats.

Every assertion message names the request, what the suite expects and what came back, so a
failure reads as a bug report.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._data import MT_INDEX, MT_MANIFEST, Blob, DataSet, Manifest, chunks_of

OCTET = {"Content-Type": "application/octet-stream"}
MANIFEST_ACCEPT = [("Accept", MT_INDEX), ("Accept", MT_MANIFEST)]  # two Accept lines
CHUNK_MIN = 1024  # the suite's floor on the chunk size

# The order in which data-set blobs are pushed: every method is exercised.
PUSH_METHODS = ("post-put", "post-only", "stream", "chunked")

LEGACY_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "MANIFEST_UNVERIFIED",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "TAG_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
    }
)


def new_name(key: str = "dev") -> str:
    """A fresh image name in repository ``key``: every test works in its own."""
    return f"{key}/conformance/{uuid.uuid4().hex[:16]}"


# ------------------------------------------------------------------------------ reporting
def describe(r: httpx.Response) -> str:
    req = r.request
    sent = {
        k: (v.split(" ", 1)[0] + " ***" if k.lower() == "authorization" else v)
        for k, v in req.headers.items()
    }
    try:
        body = r.text[:600]
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        body = "(unread)"
    got = {k: v for k, v in r.headers.items() if k.lower() not in ("date", "server")}
    return (
        f"\n  request:  {req.method} {req.url}\n  sent:     {sent}"
        f"\n  got:      {r.status_code} {got}\n  body:     {body!r}"
    )


def expect(r: httpx.Response, *codes: int, what: str = "") -> httpx.Response:
    assert r.status_code in codes, (
        f"{what or 'request'}: expected status {' or '.join(map(str, codes))}, "
        f"got {r.status_code}{describe(r)}"
    )
    return r


def location(r: httpx.Response) -> httpx.URL:
    """The Location header resolved against the request URL (it may be relative)."""
    value = r.headers.get("location")
    assert value, f"Location header required{describe(r)}"
    return r.request.url.join(value)


def with_digest(url: httpx.URL, digest: str) -> httpx.URL:
    """``?digest=`` added to whatever query the Location already carries."""
    return url.copy_add_param("digest", digest)


def check_header(r: httpx.Response, name: str, want: str) -> None:
    got = r.headers.get(name)
    assert got == want, f"header {name}: expected {want!r}, got {got!r}{describe(r)}"


def check_dcd(r: httpx.Response, digest: str) -> None:
    """Docker-Content-Digest: required (OCI_VERSION=dev) and equal to the digest."""
    check_header(r, "docker-content-digest", digest)


def error_codes(r: httpx.Response) -> list[str]:
    try:
        doc = r.json()
        return [str(e["code"]) for e in doc["errors"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise AssertionError(f"body is not an OCI error JSON ({exc}){describe(r)}") from None


class Replayable:
    """A body sent with chunked transfer encoding (no Content-Length), as the Go suite sends its
    streams, that can be replayed after an authentication challenge."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield from chunks_of(self.data)


# -------------------------------------------------------------------------- authentication
_SCHEME_RE = re.compile(r"^\s*(bearer|basic)\b", re.IGNORECASE)
_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')
_NAME_RE = re.compile(r"^/v2/(.+?)/(?:blobs|manifests|tags|referrers)/")


class SuiteAuth(httpx.Auth):
    """The suite's client: anonymous first; on 401 read WWW-Authenticate and either retry once
    with Basic, or GET a token from the Bearer realm (service and scope passed through) and
    retry once with it. The header is cached per (host, repository, pull|push|delete) and sent
    pre-emptively afterwards."""

    def __init__(self, username: str, password: str) -> None:
        self.basic = httpx.BasicAuth(username, password)
        raw = f"{username}:{password}".encode()
        self.basic_header = f"Basic {base64.b64encode(raw).decode()}"
        self.cache: dict[tuple[str, str, str], str] = {}
        self.token_requests = 0

    @staticmethod
    def _key(request: httpx.Request) -> tuple[str, str, str]:
        m = _NAME_RE.match(request.url.path)
        action = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(request.method, "push")
        return (request.url.host, m.group(1) if m else "", action)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key = self._key(request)
        cached = self.cache.get(key)
        if cached:
            request.headers["Authorization"] = cached
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        scheme = _SCHEME_RE.match(challenge)
        assert scheme, f"401 without a Bearer or Basic challenge{describe(response)}"
        if scheme.group(1).lower() == "basic":
            header = self.basic_header
        else:
            params = dict(_PARAM_RE.findall(challenge))
            assert "realm" in params, f"Bearer challenge without a quoted realm{describe(response)}"
            header = f"Bearer {self._token(request, params)}"
        self.cache[key] = header
        request.headers["Authorization"] = header
        yield request

    def _token(self, request: httpx.Request, params: dict[str, str]) -> str:
        realm = request.url.join(params["realm"])
        query = {"service": params.get("service", "")}
        if params.get("scope"):
            query["scope"] = params["scope"]
        self.token_requests += 1
        r = httpx.get(
            realm,
            params=query,
            headers={"Accept": "application/json"},
            auth=self.basic,
            timeout=30,
        )
        expect(r, 200, what="token request")
        body = r.json()
        token = body.get("access_token") or body.get("token")
        assert token, f"token response without token/access_token{describe(r)}"
        return str(token)


# ------------------------------------------------------------------------------ the client
@dataclass
class Reg:
    """One conformance client on the running server."""

    client: httpx.Client
    names: list[str] = field(default_factory=list)

    def request(self, method: str, url: str | httpx.URL, **kw: Any) -> httpx.Response:
        return self.client.request(method, url, **kw)

    def get(self, url: str | httpx.URL, **kw: Any) -> httpx.Response:
        return self.client.get(url, **kw)

    def head(self, url: str | httpx.URL, **kw: Any) -> httpx.Response:
        return self.client.head(url, **kw)

    def delete(self, url: str | httpx.URL, **kw: Any) -> httpx.Response:
        return self.client.delete(url, **kw)

    def post(self, url: str | httpx.URL, **kw: Any) -> httpx.Response:
        kw.setdefault("content", b"")
        return self.client.post(url, **kw)

    def put(self, url: str | httpx.URL, **kw: Any) -> httpx.Response:
        kw.setdefault("content", b"")
        return self.client.put(url, **kw)

    def patch(self, url: str | httpx.URL, **kw: Any) -> httpx.Response:
        kw.setdefault("content", b"")
        return self.client.patch(url, **kw)

    # ------------------------------------------------------------------------ blob uploads
    @staticmethod
    def uploads(name: str) -> str:
        return f"/v2/{name}/blobs/uploads/"

    @staticmethod
    def blob_url(name: str, digest: str) -> str:
        return f"/v2/{name}/blobs/{digest}"

    @staticmethod
    def manifest_url(name: str, reference: str) -> str:
        return f"/v2/{name}/manifests/{reference}"

    def start_upload(self, name: str) -> httpx.Response:
        """POST with no body (Content-Length: 0) -> exactly 202 with a Location."""
        r = expect(self.post(self.uploads(name)), 202, what="upload session POST")
        location(r)
        return r

    def verify_created(self, r: httpx.Response, blob: Blob) -> None:
        """A 201 for a blob: DCD equal, and the Location GETs the exact bytes."""
        check_dcd(r, blob.digest)
        g = expect(self.get(location(r)), 200, what="GET of the blob Location")
        assert g.content == blob.data, f"blob Location served other bytes{describe(g)}"

    def post_only(self, name: str, blob: Blob) -> httpx.Response:
        r = self.post(
            self.uploads(name), params={"digest": blob.digest}, content=blob.data, headers=OCTET
        )
        return expect(r, 201, what="monolithic POST ?digest= (202 is 'unsupported')")

    def post_put(self, name: str, blob: Blob) -> httpx.Response:
        r = self.start_upload(name)
        put = self.put(with_digest(location(r), blob.digest), content=blob.data, headers=OCTET)
        return expect(put, 201, what="PUT of the whole blob to the upload Location")

    def stream(self, name: str, blob: Blob) -> httpx.Response:
        r = self.start_upload(name)
        p = self.patch(location(r), content=Replayable(blob.data), headers=OCTET)
        assert "content-length" not in p.request.headers, "the stream PATCH must be chunked"
        assert p.request.headers.get("transfer-encoding") == "chunked"
        expect(p, 202, what="streamed PATCH (chunked transfer encoding, no Content-Range)")
        put = self.put(with_digest(location(p), blob.digest))
        return expect(put, 201, what="closing PUT ?digest= after the streamed PATCH")

    def chunked(
        self,
        name: str,
        blob: Blob,
        *,
        put_last_chunk: bool = False,
        out_of_order: bool = False,
        start: httpx.Response | None = None,
    ) -> httpx.Response:
        """The suite's BlobPatchChunked. Returns the 201 that completed the upload."""
        r = start or self.start_upload(name)
        loc = location(r)
        size = blob.size
        chunk = min(max(size // 3 + 1, chunk_min(r)), size)
        offset = 0
        while offset < size:
            end = min(offset + chunk, size) - 1
            if out_of_order:
                loc = self._bad_chunk(loc, blob, offset, chunk, put_last_chunk)
            body = blob.data[offset : end + 1]
            headers = {**OCTET, "Content-Range": f"{offset}-{end}"}
            if put_last_chunk and end == size - 1:
                put = self.put(with_digest(loc, blob.digest), content=body, headers=headers)
                return expect(put, 201, what="PUT carrying the last chunk")
            p = expect(self.patch(loc, content=body, headers=headers), 202, what="chunk PATCH")
            loc = location(p)
            offset = end + 1
        put = self.put(with_digest(loc, blob.digest))
        return expect(put, 201, what="closing PUT ?digest= with no body")

    def _bad_chunk(
        self, loc: httpx.URL, blob: Blob, offset: int, chunk: int, put_last: bool
    ) -> httpx.URL:
        """Send a chunk at the wrong offset: 416, the session intact, GET status 204."""
        size = blob.size
        bad_start = offset + chunk
        if bad_start >= size:
            bad_start = 0  # re-send a range the registry already holds
        bad_end = min(bad_start + chunk, size) - 1
        headers = {**OCTET, "Content-Range": f"{bad_start}-{bad_end}"}
        body = blob.data[bad_start : bad_end + 1]
        if put_last and bad_end == size - 1:
            r = self.put(with_digest(loc, blob.digest), content=body, headers=headers)
        else:
            r = self.patch(loc, content=body, headers=headers)
        expect(r, 416, what=f"out-of-order chunk {bad_start}-{bad_end} at offset {offset}")
        # like the suite: the status GET goes to the URL the bad chunk was sent to
        status = expect(self.get(r.request.url), 204, what="upload status GET after a 416")
        check_upload_range(status, offset)
        return location(status)

    def push_blob(self, name: str, blob: Blob, method: str) -> None:
        r = {
            "post-only": self.post_only,
            "post-put": self.post_put,
            "stream": self.stream,
            "chunked": self.chunked,
        }[method](name, blob)
        self.verify_created(r, blob)

    # ------------------------------------------------------------------------ blob checks
    def check_blob(self, name: str, blob: Blob) -> None:
        """HEAD and GET: 200, exact Content-Length, DCD; GET serves the exact bytes."""
        url = self.blob_url(name, blob.digest)
        h = expect(self.head(url), 200, what="blob HEAD")
        assert h.content == b"", f"HEAD returned a body{describe(h)}"
        check_header(h, "content-length", str(blob.size))
        check_dcd(h, blob.digest)
        g = expect(self.get(url), 200, what="blob GET")
        check_header(g, "content-length", str(blob.size))
        check_dcd(g, blob.digest)
        assert g.content == blob.data, f"blob GET served other bytes{describe(g)}"

    def delete_blob(self, name: str, digest: str, status: int = 202) -> None:
        """DELETE -> 202 (404 when it was never stored); HEAD straight after -> 404."""
        expect(self.delete(self.blob_url(name, digest)), status, what="blob DELETE")
        expect(self.head(self.blob_url(name, digest)), 404, what="blob HEAD after DELETE")

    # ------------------------------------------------------------------------ manifests
    def put_manifest(
        self,
        name: str,
        manifest: Manifest,
        reference: str | None = None,
        tags: Iterable[str] = (),
    ) -> httpx.Response:
        """PUT with the exact bytes (chunked, as the Go client sends them) -> exactly 201,
        Location, DCD, OCI-Subject and OCI-Tag; the Location serves the manifest."""
        tags = list(tags)
        url = self.manifest_url(name, reference or manifest.digest)
        r = self.put(
            url,
            params=[("tag", t) for t in tags],
            content=Replayable(manifest.body),
            headers={"Content-Type": manifest.put_content_type},
        )
        assert "content-length" not in r.request.headers  # chunked, as the Go client sends
        expect(r, 201, what="manifest PUT")
        check_dcd(r, manifest.digest)
        if manifest.subject:
            check_header(r, "oci-subject", manifest.subject)
        if tags:
            listed = [t.strip() for v in r.headers.get_list("oci-tag") for t in v.split(",")]
            missing = [t for t in tags if t not in listed]
            assert not missing, f"OCI-Tag does not list {missing}{describe(r)}"
        g = expect(
            self.get(location(r), headers=MANIFEST_ACCEPT), 200, what="GET of the manifest Location"
        )
        self._check_manifest_response(g, manifest, head=False)
        return r

    def _check_manifest_response(self, r: httpx.Response, m: Manifest, head: bool) -> None:
        check_header(r, "content-type", m.media_type)
        check_header(r, "content-length", str(m.size))
        check_dcd(r, m.digest)
        if head:
            assert r.content == b"", f"manifest HEAD returned a body{describe(r)}"
        else:
            assert r.content == m.body, f"manifest served other bytes{describe(r)}"

    def check_manifest(self, name: str, reference: str, m: Manifest) -> None:
        """GET and HEAD by tag or digest (A.7)."""
        url = self.manifest_url(name, reference)
        g = expect(self.get(url, headers=MANIFEST_ACCEPT), 200, what="manifest GET")
        self._check_manifest_response(g, m, head=False)
        h = expect(self.head(url, headers=MANIFEST_ACCEPT), 200, what="manifest HEAD")
        self._check_manifest_response(h, m, head=True)

    def delete_manifest(self, name: str, reference: str, status: int = 202) -> None:
        expect(self.delete(self.manifest_url(name, reference)), status, what="manifest DELETE")
        expect(
            self.head(self.manifest_url(name, reference)), 404, what="manifest HEAD after DELETE"
        )

    def put_bad_digest_manifest(self, name: str, manifest: Manifest, altered: bytes) -> None:
        """Bytes that do not hash to the digest in the URL -> 400."""
        r = self.put(
            self.manifest_url(name, manifest.digest),
            content=Replayable(altered),
            headers={"Content-Type": manifest.put_content_type},
        )
        expect(r, 400, what="manifest PUT whose bytes do not match the digest in the URL")

    # ------------------------------------------------------------------------ listings
    def tags(self, name: str, **params: Any) -> tuple[httpx.Response, list[str]]:
        r = expect(self.get(f"/v2/{name}/tags/list", params=params), 200, what="tag list")
        doc = r.json()
        assert doc.get("name") == name, f"tag list names {doc.get('name')!r}{describe(r)}"
        return r, list(doc.get("tags") or [])

    def referrers(
        self, name: str, subject: str, artifact_type: str | None = None
    ) -> tuple[httpx.Response, list[dict[str, Any]]]:
        params = {"artifactType": artifact_type} if artifact_type else {}
        r = expect(
            self.get(f"/v2/{name}/referrers/{subject}", params=params), 200, what="referrers GET"
        )
        check_header(r, "content-type", MT_INDEX)
        doc = r.json()
        assert doc.get("mediaType") == MT_INDEX, f"referrers mediaType{describe(r)}"
        assert doc.get("schemaVersion") == 2, f"referrers schemaVersion{describe(r)}"
        manifests = doc.get("manifests")
        assert isinstance(manifests, list), f"referrers manifests is not a list{describe(r)}"
        return r, manifests

    # ------------------------------------------------------------------------ data sets
    def push_dataset(self, name: str, ds: DataSet) -> None:
        """Blobs (cycling through the upload methods), manifests by digest in push order,
        then tags (or ?tag= on the digest PUT for tag-param data sets)."""
        for i, blob in enumerate(ds.blobs):
            self.push_blob(name, blob, PUSH_METHODS[i % len(PUSH_METHODS)])
        for m in ds.manifests:
            self.put_manifest(name, m, tags=ds.tags_for(m) if ds.tag_param else ())
        if not ds.tag_param:
            for tag, m in ds.tags.items():
                self.put_manifest(name, m, reference=tag)

    def check_tag_list(self, name: str, ds: DataSet) -> None:
        """A.8: every tag listed; with >= 2 tags, ``?last=`` lists exactly the later ones."""
        _, tags = self.tags(name)
        missing = sorted(set(ds.tags) - set(tags))
        assert not missing, f"tags missing from the list of {name}: {missing} (got {tags})"
        if len(ds.tags) < 2:
            return
        ordered = sorted(ds.tags)
        half = len(ordered) // 2
        last = ordered[half - 1]
        r, after = self.tags(name, last=last)
        early = [t for t in ordered[:half] if t in after]
        late = [t for t in ordered[half:] if t not in after]
        assert not early, f"?last={last} listed tags at or before it: {early}{describe(r)}"
        assert not late, f"?last={last} omitted tags after it: {late}{describe(r)}"

    def check_pull(self, name: str, ds: DataSet) -> None:
        """A.7: HEAD and GET of every tag and every digest; the blobs read back."""
        for tag, manifest in ds.tags.items():
            self.check_manifest(name, tag, manifest)
        for manifest in ds.manifests:
            self.check_manifest(name, manifest.digest, manifest)
        for blob in ds.blobs:
            self.check_blob(name, blob)

    def check_referrers(self, name: str, ds: DataSet) -> None:
        """A.9: every referrer listed with its descriptor fields and annotations; each
        artifactType filter applied and announced by OCI-Filters-Applied."""
        for subject, expected in ds.referrers.items():
            _, entries = self.referrers(name, subject)
            for m in expected:
                check_referrer(entries, m, f"referrers of {subject}")
            for artifact_type in sorted({m.artifact_type for m in expected}):
                r, filtered = self.referrers(name, subject, artifact_type)
                applied = r.headers.get("oci-filters-applied", "").split(",")
                assert "artifactType" in [f.strip() for f in applied], (
                    f"?artifactType= without OCI-Filters-Applied: artifactType{describe(r)}"
                )
                wrong = [e for e in filtered if e.get("artifactType") != artifact_type]
                assert not wrong, f"filter {artifact_type} returned other types: {wrong}"
                for m in expected:
                    if m.artifact_type == artifact_type:
                        check_referrer(filtered, m, f"referrers of {subject} (filtered)")

    def delete_dataset(self, name: str, ds: DataSet) -> None:
        """A.10: tags, manifests by digest in reverse push order, blobs: 202 then HEAD 404."""
        for tag in ds.tags:
            self.delete_manifest(name, tag)
        for manifest in reversed(ds.manifests):
            self.delete_manifest(name, manifest.digest)
        for blob in ds.blobs:
            self.delete_blob(name, blob.digest)


def find_entry(entries: list[dict[str, Any]], digest: str) -> dict[str, Any] | None:
    return next((e for e in entries if e.get("digest") == digest), None)


def check_referrer(entries: list[dict[str, Any]], m: Manifest, context: str) -> None:
    """A descriptor with the same digest, mediaType, size and artifactType, and annotations
    that include all of the manifest's."""
    entry = find_entry(entries, m.digest)
    assert entry is not None, f"{context}: referrer {m.digest} not listed in {entries}"
    want = {"mediaType": m.media_type, "size": m.size, "artifactType": m.artifact_type}
    got = {k: entry.get(k, "" if k == "artifactType" else None) for k in want}
    assert got == want, f"{context}: descriptor of {m.digest}: expected {want}, got {entry}"
    annotations = entry.get("annotations") or {}
    missing = {k: v for k, v in m.annotations.items() if annotations.get(k) != v}
    assert not missing, f"{context}: {m.digest} lacks annotations {missing}: {entry}"


def chunk_min(r: httpx.Response) -> int:
    """max(1024, OCI-Chunk-Min-Length) from an upload POST response."""
    value = r.headers.get("oci-chunk-min-length", "0") or "0"
    assert value.isdigit(), f"OCI-Chunk-Min-Length is not an integer{describe(r)}"
    return max(CHUNK_MIN, int(value))


def check_upload_range(r: httpx.Response, received: int) -> None:
    """Range: 0-<last byte>: present, starting ``0-``, an integer after it, and equal to the
    last byte once data has been received."""
    value = r.headers.get("range")
    assert value is not None, f"upload status without a Range header{describe(r)}"
    assert value.startswith("0-"), f"Range must start with 0-, got {value!r}{describe(r)}"
    try:
        last = int(value[2:])
    except ValueError:
        raise AssertionError(f"Range {value!r} does not end in an integer{describe(r)}") from None
    if received:
        assert last == received - 1, (
            f"Range {value!r} after {received} bytes; expected 0-{received - 1}{describe(r)}"
        )

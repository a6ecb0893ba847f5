"""Just enough of the OCI distribution API to seed a registry and time uploads: POST/PUT
monolithic and POST/PATCH.../PUT chunked blob uploads, manifest PUT/GET/HEAD, blob GET."""

from __future__ import annotations

import time
from urllib.parse import urljoin

import httpx

from auth import Credentials
from content import ACCEPT, Blob


class UploadError(RuntimeError):
    pass


class Registry:
    def __init__(self, base_url: str, repo: str, creds: Credentials) -> None:
        self.base_url = base_url
        self.repo = repo
        self.creds = creds
        self.http = httpx.Client(timeout=httpx.Timeout(600, connect=10))

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/v2/{self.repo}/{path}"

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": self.creds.header(), **extra}

    def _expect(self, r: httpx.Response, status: int, what: str) -> httpx.Response:
        if r.status_code != status:
            raise UploadError(f"{what}: {r.status_code} {r.text[:300]!r} (expected {status})")
        return r

    def _location(self, r: httpx.Response) -> str:
        loc: str | None = r.headers.get("location")
        if not loc:
            raise UploadError(f"{r.request.method} {r.request.url}: no Location header")
        return urljoin(self.base_url, loc)

    def _start(self) -> str:
        r = self.http.post(
            self.url("blobs/uploads/"), headers=self._headers(**{"Content-Length": "0"})
        )
        return self._location(self._expect(r, 202, "POST blobs/uploads/"))

    def _finish(self, location: str, digest: str, body: object, length: int) -> None:
        sep = "&" if "?" in location else "?"
        r = self.http.put(
            f"{location}{sep}digest={digest}",
            content=body,  # type: ignore[arg-type]
            headers=self._headers(
                **{"Content-Type": "application/octet-stream", "Content-Length": str(length)}
            ),
        )
        self._expect(r, 201, "PUT upload")
        got = r.headers.get("docker-content-digest")
        if got and got != digest:
            raise UploadError(f"server says {got}, expected {digest}")

    def push_bytes(self, data: bytes, digest: str) -> None:
        self._finish(self._start(), digest, data, len(data))

    def upload_monolithic(self, blob: Blob) -> float:
        """POST, then one PUT streaming the whole body; seconds until the 201."""
        t0 = time.perf_counter()
        self._finish(self._start(), blob.digest, blob.chunks(), blob.size)
        return time.perf_counter() - t0

    def upload_chunked(self, blob: Blob, parts: int = 16) -> float:
        """POST, `parts` PATCHes with Content-Range, then PUT ?digest=; seconds until the 201."""
        step = -(-blob.size // parts)
        t0 = time.perf_counter()
        location = self._start()
        for start in range(0, blob.size, step):
            n = min(step, blob.size - start)
            r = self.http.patch(
                location,
                content=blob.chunks(start, n),
                headers=self._headers(
                    **{
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(n),
                        "Content-Range": f"{start}-{start + n - 1}",
                    }
                ),
            )
            self._expect(r, 202, f"PATCH {start}-{start + n - 1}")
            got = r.headers.get("range", "")
            if got and not got.endswith(f"-{start + n - 1}"):
                raise UploadError(f"PATCH {start}-{start + n - 1}: server Range {got!r}")
            location = self._location(r)
        self._finish(location, blob.digest, b"", 0)
        return time.perf_counter() - t0

    def put_manifest(self, ref: str, body: bytes, media_type: str) -> None:
        r = self.http.put(
            self.url(f"manifests/{ref}"),
            content=body,
            headers=self._headers(**{"Content-Type": media_type}),
        )
        self._expect(r, 201, f"PUT manifests/{ref}")

    def get(self, path: str, method: str = "GET") -> httpx.Response:
        return self.http.request(method, self.url(path), headers=self._headers(Accept=ACCEPT))

"""Blob reads (conformance A.5 and B.2): missing blobs, range requests, and the well-known empty
and empty-JSON blobs pushed by each upload method."""

from __future__ import annotations

import pytest

from ._data import ALGORITHMS, EMPTY_JSON, EMPTY_JSON_SHA256, EMPTY_SHA256, Blob, random_blob
from ._registry import PUSH_METHODS, Reg, check_dcd, check_header, describe, expect


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_get_missing(reg: Reg, repo1: str, alg: str) -> None:
    missing = random_blob(512, alg)
    expect(reg.get(reg.blob_url(repo1, missing.digest)), 404, what="GET of a blob never pushed")


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_head_missing_and_present(reg: Reg, repo1: str, alg: str) -> None:
    """B.2: HEAD/GET of an unknown digest -> 404; of a pushed config -> 200 with DCD."""
    dummy = Blob(b"hello world", alg)
    expect(reg.head(reg.blob_url(repo1, dummy.digest)), 404, what="HEAD of an unknown blob")
    expect(reg.get(reg.blob_url(repo1, dummy.digest)), 404, what="GET of an unknown blob")
    config = random_blob(300, alg)
    reg.push_blob(repo1, config, "post-put")
    h = expect(reg.head(reg.blob_url(repo1, config.digest)), 200, what="HEAD of a pushed blob")
    check_dcd(h, config.digest)
    expect(reg.get(reg.blob_url(repo1, config.digest)), 200, what="GET of a pushed blob")
    reg.delete_blob(repo1, config.digest)


# (Range header, expected Content-Length, expected Content-Range, slice of the 2048 bytes)
RANGES_206 = [
    ("bytes=500-1499", 1000, "bytes 500-1499/2048", slice(500, 1500)),
    ("bytes=500-", 1548, "bytes 500-2047/2048", slice(500, 2048)),
    ("bytes=-500", 500, "bytes 1548-2047/2048", slice(1548, 2048)),
    ("bytes=2000-5000", 48, "bytes 2000-2047/2048", slice(2000, 2048)),
]
RANGES_416 = ["bytes=500-0", "bytes=5000-10000"]


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize(("header", "length", "content_range", "part"), RANGES_206)
def test_range(
    reg: Reg,
    repo1: str,
    alg: str,
    header: str,
    length: int,
    content_range: str,
    part: slice,
) -> None:
    """206 with the exact bytes (a 200 with the whole blob is 'range unsupported')."""
    blob = random_blob(2048, alg)
    reg.push_blob(repo1, blob, "post-put")
    r = reg.get(reg.blob_url(repo1, blob.digest), headers={"Range": header})
    expect(r, 206, what=f"GET with Range: {header}")
    check_header(r, "content-length", str(length))
    got = r.headers.get("content-range", "")
    assert got in (content_range, content_range.rsplit("/", 1)[0] + "/*"), (
        f"Content-Range: expected {content_range!r}, got {got!r}{describe(r)}"
    )
    assert r.content == blob.data[part], f"range served other bytes{describe(r)}"
    reg.delete_blob(repo1, blob.digest)


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("header", RANGES_416)
def test_range_not_satisfiable(reg: Reg, repo1: str, alg: str, header: str) -> None:
    blob = random_blob(2048, alg)
    reg.push_blob(repo1, blob, "post-put")
    r = reg.get(reg.blob_url(repo1, blob.digest), headers={"Range": header})
    expect(r, 416, what=f"GET with Range: {header}")
    reg.delete_blob(repo1, blob.digest)


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("method", PUSH_METHODS)
@pytest.mark.parametrize("data", [b"", EMPTY_JSON], ids=["empty", "emptyJSON"])
def test_well_known_blob(reg: Reg, repo1: str, alg: str, method: str, data: bytes) -> None:
    """The empty blob and ``{}``: pushed, then HEAD/GET (Content-Length exact, 0 for the empty
    blob, with an empty body), DELETE 202, HEAD 404."""
    blob = Blob(data, alg)
    if alg == "sha256":
        assert blob.digest == (EMPTY_SHA256 if not data else EMPTY_JSON_SHA256)
    reg.push_blob(repo1, blob, method)
    reg.check_blob(repo1, blob)
    reg.delete_blob(repo1, blob.digest)

"""Blob reads (ranges, HEAD, access by reference) and listings (tags, catalog, pagination)."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.integration.conftest import error_code, image_manifest, push_blob, push_manifest


@pytest.fixture
def blob(client: httpx.Client, name: str) -> tuple[str, bytes]:
    data = os.urandom(2048)
    return push_blob(client, name, data), data


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=500-1499", 500, 1499),
        ("bytes=500-", 500, 2047),
        ("bytes=-500", 1548, 2047),
        ("bytes=2000-5000", 2000, 2047),
    ],
)
def test_ranges(
    client: httpx.Client, name: str, blob: tuple[str, bytes], header: str, start: int, end: int
) -> None:
    digest, data = blob
    r = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": header})
    assert r.status_code == 206
    assert r.content == data[start : end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/2048"
    assert r.headers["content-length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=5000-10000", "bytes=2048-", "bytes=-0", "bytes=500-0"])
def test_unsatisfiable_ranges_are_416_with_a_correct_body(
    client: httpx.Client, name: str, blob: tuple[str, bytes], header: str
) -> None:
    digest, _ = blob
    r = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */2048"
    assert r.headers["content-length"] == str(len(r.content))
    assert error_code(r) == "BLOB_UPLOAD_INVALID"


def test_malformed_range_is_ignored_and_the_whole_blob_sent(
    client: httpx.Client, name: str, blob: tuple[str, bytes]
) -> None:
    digest, data = blob
    for header in ("items=1-2", "bytes=a-b", "bytes=1-2,5-6"):
        r = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": header})
        assert r.status_code == 200, header
        assert r.content == data


def test_head_reports_exact_length_and_digest(
    client: httpx.Client, name: str, blob: tuple[str, bytes]
) -> None:
    digest, _ = blob
    r = client.head(f"/v2/{name}/blobs/{digest}")
    assert r.status_code == 200
    assert r.headers["content-length"] == "2048"
    assert r.headers["docker-content-digest"] == digest
    assert r.content == b""


def test_blob_is_served_only_where_it_is_referenced(
    client: httpx.Client, name: str, blob: tuple[str, bytes]
) -> None:
    digest, _ = blob
    r = client.get(f"/v2/{name}-elsewhere/blobs/{digest}")
    assert r.status_code == 404
    assert error_code(r) == "BLOB_UNKNOWN"


def test_malformed_blob_digest_is_digest_invalid(client: httpx.Client, name: str) -> None:
    r = client.get(f"/v2/{name}/blobs/sha256:nothex")
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"


def test_blob_delete_unlinks_it_from_this_image_only(client: httpx.Client, name: str) -> None:
    data = b"shared"
    digest = push_blob(client, name, data)
    other = name + "-b"
    push_blob(client, other, data)
    assert client.delete(f"/v2/{name}/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 404
    assert client.get(f"/v2/{other}/blobs/{digest}").content == data
    r = client.delete(f"/v2/{name}/blobs/{digest}")
    assert r.status_code == 404
    assert error_code(r) == "BLOB_UNKNOWN"


def test_tags_are_sorted_and_paginated_with_link(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name)
    tags = ["b", "a", "c10", "c2", "latest"]
    for tag in tags:
        assert push_manifest(client, name, tag, body).status_code == 201
    everything = client.get(f"/v2/{name}/tags/list").json()
    assert everything == {"name": name, "tags": sorted(tags)}
    page = client.get(f"/v2/{name}/tags/list", params={"n": 2})
    assert page.json()["tags"] == ["a", "b"]
    assert page.headers["link"] == f'</v2/{name}/tags/list?n=2&last=b>; rel="next"'
    rest = client.get(f"/v2/{name}/tags/list", params={"n": 2, "last": "c2"})
    assert rest.json()["tags"] == ["latest"]
    assert "link" not in rest.headers
    assert client.get(f"/v2/{name}/tags/list", params={"n": 0}).json()["tags"] == []
    bad = client.get(f"/v2/{name}/tags/list", params={"n": "-1"})
    assert bad.status_code == 400


def test_tags_of_an_unknown_image_is_name_unknown(client: httpx.Client, name: str) -> None:
    r = client.get(f"/v2/{name}/tags/list")
    assert r.status_code == 404
    assert error_code(r) == "NAME_UNKNOWN"


def test_catalog_lists_full_names_sorted_with_pagination(client: httpx.Client, name: str) -> None:
    for suffix in ("z", "a", "m"):
        image = f"{name}/{suffix}"
        push_manifest(client, image, "1", image_manifest(client, image))
    names = client.get("/v2/_catalog").json()["repositories"]
    mine = [n for n in names if n.startswith(name + "/")]
    assert mine == [f"{name}/a", f"{name}/m", f"{name}/z"]
    assert names == sorted(names)
    page = client.get("/v2/_catalog", params={"n": 1, "last": f"{name}/a"})
    assert page.json()["repositories"] == [f"{name}/m"]
    assert page.headers["link"].endswith('; rel="next"')


def test_absurd_numbers_in_ranges_and_pagination_are_clear_errors(
    client: httpx.Client, name: str, blob: tuple[str, bytes]
) -> None:
    digest, _ = blob
    huge = "9" * 5000
    r = client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": f"bytes={huge}-"})
    assert r.status_code == 416
    upload = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
    r = client.patch(upload, content=b"x", headers={"Content-Range": f"0-{huge}"})
    assert r.status_code == 416
    for n in (huge, "²", "-1", "1e3"):
        for path in (f"/v2/{name}/tags/list", "/v2/_catalog"):
            r = client.get(path, params={"n": n})
            assert r.status_code == 400, (path, n)
            assert "whole number" in r.json()["errors"][0]["message"]

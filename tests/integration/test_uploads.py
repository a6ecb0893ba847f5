"""Upload sessions: error paths leave nothing behind."""

from __future__ import annotations

import hashlib

import httpx

from tests.integration.conftest import error_code, sha256


def start(client: httpx.Client, name: str) -> str:
    r = client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202
    return str(r.headers["location"])


def test_out_of_order_chunk_is_416_and_appends_nothing(client: httpx.Client, name: str) -> None:
    loc = start(client, name)
    assert client.patch(loc, content=b"abcd", headers={"Content-Range": "0-3"}).status_code == 202
    r = client.patch(loc, content=b"efgh", headers={"Content-Range": "10-13"})
    assert r.status_code == 416
    assert error_code(r) == "BLOB_UPLOAD_INVALID"
    assert "starts at byte 10" in r.json()["errors"][0]["message"]
    status = client.get(loc)
    assert status.status_code == 204
    assert status.headers["range"] == "0-3"
    r = client.put(loc, params={"digest": sha256(b"abcd")})
    assert r.status_code == 201
    assert client.get(f"/v2/{name}/blobs/{sha256(b'abcd')}").content == b"abcd"


def test_malformed_content_range_is_416(client: httpx.Client, name: str) -> None:
    loc = start(client, name)
    for header in ("abc", "5-2", "bytes=x-y"):
        r = client.patch(loc, content=b"x", headers={"Content-Range": header})
        assert r.status_code == 416, header
    assert client.get(loc).headers["range"] == "0-0"


def test_chunk_longer_than_its_content_range_is_refused(client: httpx.Client, name: str) -> None:
    loc = start(client, name)
    r = client.patch(loc, content=b"0123456789", headers={"Content-Range": "0-3"})
    assert r.status_code == 400
    assert error_code(r) == "SIZE_INVALID"


def test_unknown_and_malformed_upload_ids(client: httpx.Client, name: str) -> None:
    for upload in ("0" * 32, "not-an-id", "Z" * 32):
        r = client.get(f"/v2/{name}/blobs/uploads/{upload}")
        assert r.status_code == 404, upload
        assert error_code(r) == "BLOB_UPLOAD_UNKNOWN"
        assert client.patch(f"/v2/{name}/blobs/uploads/{upload}", content=b"x").status_code == 404


def test_upload_cannot_be_continued_under_another_name(client: httpx.Client, name: str) -> None:
    loc = start(client, name)
    other = loc.replace(name, name + "-other")
    r = client.patch(other, content=b"x")
    assert r.status_code == 404
    assert error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_finish_without_digest_and_with_malformed_digest(client: httpx.Client, name: str) -> None:
    loc = start(client, name)
    r = client.put(loc, content=b"data")
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"
    for bad in ("sha256:xyz", "md5:" + "0" * 32, "nonsense"):
        r = client.put(loc, params={"digest": bad})
        assert r.status_code == 400
        assert error_code(r) == "DIGEST_INVALID"


def test_wrong_digest_discards_the_upload(client: httpx.Client, name: str) -> None:
    loc = start(client, name)
    client.patch(loc, content=b"real content")
    wrong = sha256(b"other content")
    r = client.put(loc, params={"digest": wrong})
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"
    assert client.head(f"/v2/{name}/blobs/{wrong}").status_code == 404
    assert client.head(f"/v2/{name}/blobs/{sha256(b'real content')}").status_code == 404
    assert client.get(loc).status_code == 404


def test_monolithic_post_with_wrong_digest_leaves_nothing(client: httpx.Client, name: str) -> None:
    wrong = sha256(b"something else")
    r = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": wrong}, content=b"payload")
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"
    assert client.head(f"/v2/{name}/blobs/{wrong}").status_code == 404


def test_sha512_monolithic_upload(client: httpx.Client, name: str) -> None:
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201
    assert r.headers["docker-content-digest"] == digest
    got = client.get(f"/v2/{name}/blobs/{digest}")
    assert got.content == data
    assert got.headers["docker-content-digest"] == digest


def test_cancel_then_the_session_is_gone(client: httpx.Client, name: str) -> None:
    loc = start(client, name)
    client.patch(loc, content=b"partial")
    assert client.delete(loc).status_code == 204
    assert client.get(loc).status_code == 404
    assert client.delete(loc).status_code == 404


def test_mount_from_a_source_without_the_blob_falls_back_to_an_upload(
    client: httpx.Client, name: str
) -> None:
    digest = sha256(b"never pushed")
    r = client.post(f"/v2/{name}/blobs/uploads/", params={"mount": digest, "from": "dev/elsewhere"})
    assert r.status_code == 202
    assert r.headers["location"].startswith(f"/v2/{name}/blobs/uploads/")


def test_mount_with_malformed_digest_or_source_falls_back(client: httpx.Client, name: str) -> None:
    for params in ({"mount": "bogus", "from": "dev/x"}, {"mount": sha256(b"a"), "from": "BAD//"}):
        r = client.post(f"/v2/{name}/blobs/uploads/", params=params)
        assert r.status_code == 202


def test_mount_links_a_blob_from_another_repository(client: httpx.Client, name: str) -> None:
    data = b"shared layer"
    digest = sha256(data)
    assert (
        client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    ).status_code == 201
    target = name + "-mounted"
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": name})
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/{target}/blobs/{digest}"
    assert client.get(f"/v2/{target}/blobs/{digest}").content == data


def test_chunk_shorter_than_its_content_range_is_refused_and_not_kept(
    client: httpx.Client, name: str
) -> None:
    loc = start(client, name)
    r = client.patch(loc, content=b"12345", headers={"Content-Range": "0-99"})
    assert r.status_code == 400
    assert error_code(r) == "SIZE_INVALID"
    assert "announced 100" in r.json()["errors"][0]["message"]
    assert client.get(loc).headers["range"] == "0-0"

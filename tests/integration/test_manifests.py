"""Manifest push and pull: exact bytes, validation errors, size limit, tags."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import (
    OCI_MANIFEST,
    error_code,
    image_manifest,
    push_blob,
    push_manifest,
    sha256,
)

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def test_manifest_bytes_are_served_exactly_as_pushed(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name)
    odd = body.replace(b'"schemaVersion": 2', b'"schemaVersion":   2')  # unusual spacing kept
    r = push_manifest(client, name, "1.0", odd)
    assert r.status_code == 201
    digest = sha256(odd)
    assert r.headers["docker-content-digest"] == digest
    assert r.headers["location"] == f"/v2/{name}/manifests/{digest}"
    for ref in ("1.0", digest):
        got = client.get(f"/v2/{name}/manifests/{ref}")
        assert got.content == odd
        assert got.headers["content-type"] == OCI_MANIFEST
        assert got.headers["docker-content-digest"] == digest
        head = client.head(f"/v2/{name}/manifests/{ref}")
        assert head.headers["content-length"] == str(len(odd))


def test_docker_schema2_media_type_is_preserved(client: httpx.Client, name: str) -> None:
    doc = json.loads(image_manifest(client, name))
    doc["mediaType"] = DOCKER_V2
    doc["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
    body = json.dumps(doc).encode()
    r = client.put(f"/v2/{name}/manifests/v2s2", content=body, headers={"Content-Type": DOCKER_V2})
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{name}/manifests/v2s2").headers["content-type"] == DOCKER_V2


def test_schema1_is_refused_with_a_clear_message(client: httpx.Client, name: str) -> None:
    body = json.dumps({"schemaVersion": 1, "name": name, "tag": "x", "fsLayers": []}).encode()
    r = client.put(
        f"/v2/{name}/manifests/old",
        content=body,
        headers={"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
    )
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_INVALID"
    assert "schema1" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (b"not json", OCI_MANIFEST, "not valid JSON"),
        (b"[1, 2]", OCI_MANIFEST, "JSON object"),
        (b'{"schemaVersion": 2, "mediaType": "text/plain"}', "text/plain", "unsupported"),
        (b'{"schemaVersion": 3, "config": {}, "layers": []}', OCI_MANIFEST, "schemaVersion"),
        (
            b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'", "layers": []}',
            OCI_MANIFEST,
            "config",
        ),
        (
            b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","config":'
            b'{"mediaType":"a/b","digest":"sha256:zz","size":1},"layers":[]}',
            OCI_MANIFEST,
            "config.digest",
        ),
    ],
)
def test_invalid_manifests_are_manifest_invalid(
    client: httpx.Client, name: str, body: bytes, content_type: str, needle: str
) -> None:
    r = client.put(
        f"/v2/{name}/manifests/bad", content=body, headers={"Content-Type": content_type}
    )
    assert r.status_code == 400, r.text
    assert error_code(r) == "MANIFEST_INVALID"
    assert needle in r.json()["errors"][0]["message"]
    assert client.head(f"/v2/{name}/manifests/bad").status_code == 404


def test_content_type_must_match_the_media_type(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name)
    r = client.put(
        f"/v2/{name}/manifests/mismatch", content=body, headers={"Content-Type": DOCKER_V2}
    )
    assert r.status_code == 400
    assert "does not match" in r.json()["errors"][0]["message"]


def test_manifest_referencing_missing_blobs_is_refused(client: httpx.Client, name: str) -> None:
    missing = sha256(b"never uploaded")
    config = push_blob(client, name, b"{}")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": missing,
                    "size": 14,
                }
            ],
        }
    ).encode()
    r = push_manifest(client, name, "sparse", body)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert missing in r.json()["errors"][0]["message"]
    assert client.head(f"/v2/{name}/manifests/sparse").status_code == 404


def test_blob_of_another_image_does_not_satisfy_a_manifest(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name + "-owner")
    r = push_manifest(client, name, "borrowed", body)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_manifest_over_4_mib_is_413(client: httpx.Client, name: str) -> None:
    doc = json.loads(image_manifest(client, name))
    doc["annotations"] = {"big": "A" * (4 * 1024 * 1024)}
    r = push_manifest(client, name, "huge", json.dumps(doc).encode())
    assert r.status_code == 413
    assert error_code(r) == "SIZE_INVALID"
    assert "4 MiB" in r.json()["errors"][0]["message"]


def test_manifest_of_almost_4_mib_is_accepted(client: httpx.Client, name: str) -> None:
    doc = json.loads(image_manifest(client, name))
    doc["annotations"] = {f"a{i}": "A" * 10_000 for i in range(390)}
    r = push_manifest(client, name, "large", json.dumps(doc).encode())
    assert r.status_code == 201


def test_digest_reference_must_match_the_body(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name)
    r = push_manifest(client, name, sha256(body + b"  "), body)
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"
    r = push_manifest(client, name, "sha256:baddigeststring", body)
    assert r.status_code == 400


def test_invalid_tag_on_push_and_unknown_references_on_pull(
    client: httpx.Client, name: str
) -> None:
    body = image_manifest(client, name)
    r = push_manifest(client, name, "-bad-tag", body)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_INVALID"
    for ref in (".INVALID_MANIFEST_NAME", "sha256:totallywrong", "missing", sha256(b"x")):
        got = client.get(f"/v2/{name}/manifests/{ref}")
        assert got.status_code == 404, ref
        assert error_code(got) == "MANIFEST_UNKNOWN"


def test_sha512_manifest_by_digest(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name)
    digest = "sha512:" + hashlib.sha512(body).hexdigest()
    r = push_manifest(client, name, digest, body)
    assert r.status_code == 201
    assert r.headers["docker-content-digest"] == digest
    assert client.get(f"/v2/{name}/manifests/{digest}").content == body


def test_tag_query_parameters_set_tags_and_answer_oci_tag(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name)
    r = client.put(
        f"/v2/{name}/manifests/{sha256(body)}",
        params=[("tag", "a"), ("tag", "b")],
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    assert r.headers.get_list("oci-tag") == ["a", "b"]
    assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["a", "b"]


def test_subject_answers_oci_subject_even_when_absent(client: httpx.Client, name: str) -> None:
    config = push_blob(client, name, b"{}")
    subject = sha256(b"not pushed")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 10},
        }
    ).encode()
    r = push_manifest(client, name, sha256(body), body)
    assert r.status_code == 201
    assert r.headers["oci-subject"] == subject
    refs = client.get(f"/v2/{name}/referrers/{subject}")
    assert refs.headers["content-type"] == "application/vnd.oci.image.index.v1+json"
    assert [m["digest"] for m in refs.json()["manifests"]] == [sha256(body)]
    filtered = client.get(
        f"/v2/{name}/referrers/{subject}", params={"artifactType": "application/other"}
    )
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert filtered.json()["manifests"] == []


def test_delete_manifest_removes_its_tags_and_tag_delete_keeps_the_manifest(
    client: httpx.Client, name: str
) -> None:
    body = image_manifest(client, name)
    digest = sha256(body)
    push_manifest(client, name, "keep", body)
    push_manifest(client, name, "drop", body)
    assert client.delete(f"/v2/{name}/manifests/drop").status_code == 202
    assert client.head(f"/v2/{name}/manifests/drop").status_code == 404
    assert client.head(f"/v2/{name}/manifests/{digest}").status_code == 200
    assert client.delete(f"/v2/{name}/manifests/drop").status_code == 404
    assert client.delete(f"/v2/{name}/manifests/{digest}").status_code == 202
    assert client.head(f"/v2/{name}/manifests/keep").status_code == 404
    assert client.delete(f"/v2/{name}/manifests/{digest}").status_code == 404


def test_chunked_transfer_encoding_manifest_push(client: httpx.Client, name: str) -> None:
    body = image_manifest(client, name)

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    r = client.put(
        f"/v2/{name}/manifests/streamed", content=chunks(), headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    assert client.get(f"/v2/{name}/manifests/streamed").content == body


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"schemaVersion": 2, "annotations": {"a": "\\ud800"}}', "UTF-8"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    ],
)
def test_hostile_manifest_bodies_are_refused_cleanly(
    client: httpx.Client, name: str, body: bytes, needle: str
) -> None:
    r = push_manifest(client, name, "hostile", body)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_INVALID"
    assert needle in r.json()["errors"][0]["message"]


def test_content_an_image_still_uses_cannot_be_deleted_from_under_it(
    client: httpx.Client, name: str
) -> None:
    body = image_manifest(client, name, layer=b"in use")
    assert push_manifest(client, name, "v1", body).status_code == 201
    layer = json.loads(body)["layers"][0]["digest"]
    r = client.delete(f"/v2/{name}/blobs/{layer}")
    assert r.status_code == 409
    assert "still used by manifest" in r.json()["errors"][0]["message"]
    assert client.get(f"/v2/{name}/blobs/{layer}").status_code == 200
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(body), "size": len(body)}],
        }
    ).encode()
    r = client.put(
        f"/v2/{name}/manifests/idx",
        content=index,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert r.status_code == 201
    r = client.delete(f"/v2/{name}/manifests/{sha256(body)}")
    assert r.status_code == 409
    assert "still listed by index" in r.json()["errors"][0]["message"]
    # Parents first, then children, then blobs: each step succeeds.
    assert client.delete(f"/v2/{name}/manifests/{sha256(index)}").status_code == 202
    assert client.delete(f"/v2/{name}/manifests/{sha256(body)}").status_code == 202
    assert client.delete(f"/v2/{name}/blobs/{layer}").status_code == 202

"""Manifest push errors and reads (conformance A.6 error tests, B.2, B.3 and the old
07_error_codes): bad digests, malformed digest references, missing manifests, sparse content
on a repository that does not allow it, and the old suite's fixed manifests (unknown fields,
``data``, ``null``, no ``mediaType``) stored byte-exact."""

from __future__ import annotations

import pytest

from ._data import (
    ALGORITHMS,
    MT_MANIFEST,
    DataSet,
    Generator,
    LegacyData,
    bad_digest_image,
    build_dataset,
    legacy_data,
    random_base32_lower,
    random_digest,
)
from ._registry import (
    LEGACY_ERROR_CODES,
    MANIFEST_ACCEPT,
    Reg,
    Replayable,
    check_dcd,
    describe,
    error_codes,
    expect,
    location,
    new_name,
)


def push_blobs(reg: Reg, name: str, ds: DataSet) -> None:
    for blob in ds.blobs:
        reg.push_blob(name, blob, "post-put")


def delete_blobs(reg: Reg, name: str, ds: DataSet) -> None:
    for blob in ds.blobs:
        reg.delete_blob(name, blob.digest)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_bad_digest_manifest(reg: Reg, repo1: str, alg: str) -> None:
    """A.6 bad-digest-image: two trailing spaces after the digest was taken -> 400; nothing was
    stored (DELETE 404, HEAD 404); the blobs still delete."""
    ds, manifest, altered = bad_digest_image(alg)
    push_blobs(reg, repo1, ds)
    reg.put_bad_digest_manifest(repo1, manifest, altered)
    reg.delete_manifest(repo1, manifest.digest, status=404)
    delete_blobs(reg, repo1, ds)


def test_invalid_digest_format(reg: Reg, repo1: str) -> None:
    """A.6: PUT /manifests/sha256:baddigeststring -> 400; GET -> 404 or 400."""
    ds = DataSet("invalid-digest-format")
    manifest = Generator(ds).image(layers=1)
    push_blobs(reg, repo1, ds)
    url = reg.manifest_url(repo1, "sha256:baddigeststring")
    r = reg.put(url, content=Replayable(manifest.body), headers={"Content-Type": MT_MANIFEST})
    expect(r, 400, what="manifest PUT to a malformed digest")
    expect(reg.get(url, headers=MANIFEST_ACCEPT), 404, 400, what="GET of a malformed digest")
    delete_blobs(reg, repo1, ds)


def test_missing_manifest(reg: Reg, repo1: str) -> None:
    """A.6 missing-manifest: unknown digest and unknown tag -> 404."""
    for reference in (random_digest(), f"missing-{random_base32_lower(20)}"):
        r = reg.get(reg.manifest_url(repo1, reference), headers=MANIFEST_ACCEPT)
        expect(r, 404, what=f"GET of unknown manifest {reference}")


@pytest.mark.parametrize("tag", ["sparse-image", "sparse-index"])
def test_sparse_refused_without_allow_sparse(reg: Reg, tag: str) -> None:
    """The sparse data set on ``dev`` (allow_sparse false): 400 MANIFEST_BLOB_UNKNOWN."""
    ds = build_dataset("sparse")
    name = new_name("dev")
    push_blobs(reg, name, ds)
    target = ds.tags[tag]
    for m in ds.manifests:  # the complete child image of sparse-index is accepted
        if m is target:
            break
        if m.doc.get("mediaType") == MT_MANIFEST and m not in ds.tags.values():
            reg.put_manifest(name, m)
    r = reg.put(
        reg.manifest_url(name, tag),
        content=Replayable(target.body),
        headers={"Content-Type": target.put_content_type},
    )
    expect(r, 400, what=f"PUT of {tag} (references content never pushed) on dev")
    codes = error_codes(r)
    assert codes and codes[0] == "MANIFEST_BLOB_UNKNOWN", f"error code {codes}{describe(r)}"


# ------------------------------------------------------------------------------ old suite
@pytest.fixture
def legacy() -> LegacyData:
    return legacy_data()


def test_legacy_pull(reg: Reg, repo1: str, legacy: LegacyData) -> None:
    """B.2: configs[0..1] and the layer; manifests[0] to tag tagtest0, manifests[1] by digest;
    HEAD/GET of ``.INVALID_MANIFEST_NAME`` -> 404; HEAD/GET by digest and tag -> 200, DCD."""
    d = legacy
    for blob in (d.configs[0], d.configs[1], d.layer):
        reg.push_blob(repo1, blob, "post-put")
    reg.put_manifest(repo1, d.manifests[0], reference="tagtest0")
    reg.put_manifest(repo1, d.manifests[1])

    invalid = reg.manifest_url(repo1, ".INVALID_MANIFEST_NAME")
    expect(reg.head(invalid), 404, what="HEAD of .INVALID_MANIFEST_NAME")
    for m in d.manifests[:2]:
        h = reg.head(reg.manifest_url(repo1, m.digest), headers={"Accept": MT_MANIFEST})
        expect(h, 200, what="HEAD by digest")
        check_dcd(h, m.digest)
    h = reg.head(reg.manifest_url(repo1, "tagtest0"), headers={"Accept": MT_MANIFEST})
    expect(h, 200, what="HEAD by tag")
    check_dcd(h, d.manifests[0].digest)
    expect(reg.get(invalid), 404, what="GET of .INVALID_MANIFEST_NAME")
    reg.check_manifest(repo1, d.manifests[0].digest, d.manifests[0])
    reg.check_manifest(repo1, d.manifests[1].digest, d.manifests[1])
    reg.check_manifest(repo1, "tagtest0", d.manifests[0])

    for m in d.manifests[:2]:
        reg.delete_manifest(repo1, m.digest)
    for blob in (d.configs[0], d.configs[1], d.layer):
        reg.delete_blob(repo1, blob.digest)


def test_legacy_get_totallywrong(reg: Reg, repo1: str) -> None:
    """B.2 error codes: GET /manifests/sha256:totallywrong (with a body) -> 400 or 404; a 400
    carries an OCI error whose first code is a known one."""
    r = reg.request(
        "GET",
        reg.manifest_url(repo1, "sha256:totallywrong"),
        content=b"blablabla",
        headers={"Content-Type": MT_MANIFEST},
    )
    expect(r, 400, 404, what="GET /manifests/sha256:totallywrong")
    if r.status_code == 400:
        codes = error_codes(r)
        assert codes and codes[0] in LEGACY_ERROR_CODES, f"error codes {codes}{describe(r)}"


def test_legacy_put_totallywrong(reg: Reg, repo1: str) -> None:
    """07_error_codes: PUT /manifests/sha256:totallywrong with body ``blablabla`` -> exactly
    400 with an OCI error JSON whose code is in the allowed list."""
    r = reg.put(
        reg.manifest_url(repo1, "sha256:totallywrong"),
        content=b"blablabla",
        headers={"Content-Type": MT_MANIFEST},
    )
    expect(r, 400, what="PUT /manifests/sha256:totallywrong")
    codes = error_codes(r)
    assert codes and codes[0] in LEGACY_ERROR_CODES, f"error codes {codes}{describe(r)}"


def test_legacy_manifest_upload(reg: Reg, repo1: str, legacy: LegacyData) -> None:
    """B.3: GET .INVALID_MANIFEST_NAME -> 404; manifests[1] (config descriptor with ``data``
    and an unknown field, a layer with ``"newUnspecifiedField": null``, tab-indented) to tags
    test0..test3 -> 201 + Location and served byte-exact; the empty-layer manifest without
    ``mediaType`` to tag emptylayer -> 201 and served as an image manifest."""
    d = legacy
    for blob in (d.configs[1], d.layer):
        reg.push_blob(repo1, blob, "post-put")
    expect(reg.get(reg.manifest_url(repo1, ".INVALID_MANIFEST_NAME")), 404)
    m = d.manifests[1]
    assert b'"newUnspecifiedField": null' in m.body and b'"data": "' in m.body
    for tag in ("test0", "test1", "test2", "test3"):
        r = reg.put_manifest(repo1, m, reference=tag)
        location(r)
        reg.check_manifest(repo1, tag, m)
    empty = d.empty_layer_manifest
    assert "mediaType" not in empty.doc
    reg.put_manifest(repo1, empty, reference="emptylayer")
    reg.check_manifest(repo1, "emptylayer", empty)
    reg.check_manifest(repo1, m.digest, m)

    for manifest in (m, empty):
        reg.delete_manifest(repo1, manifest.digest)
    for blob in (d.configs[1], d.layer):
        reg.delete_blob(repo1, blob.digest)

"""The referrers API (A.4, A.9 and the old discovery workflow B.4): an unknown subject answers
an empty index; every referrer is listed with digest, mediaType, size, artifactType and its
annotations; the artifactType filter is applied and announced with OCI-Filters-Applied."""

from __future__ import annotations

from typing import Any

import pytest

from ._data import (
    EMPTY_JSON,
    EMPTY_JSON_SHA256,
    MT_EMPTY,
    MT_INDEX,
    MT_MANIFEST,
    Blob,
    Manifest,
    build_dataset,
    canonical,
    legacy_data,
    random_digest,
)
from ._registry import Reg, describe, find_entry, new_name

SUBJECT_DATASETS = ["artifacts-with-subject", "index-with-subject", "missing-subject"]


def test_empty_referrers(reg: Reg, repo1: str) -> None:
    """A.4: referrers of a digest nobody pushed: 200, an empty (or any) image index."""
    reg.referrers(repo1, random_digest())


@pytest.mark.parametrize("dataset", SUBJECT_DATASETS)
def test_referrers(reg: Reg, dataset: str) -> None:
    ds = build_dataset(dataset)
    assert ds.referrers, "the data set has referrers"
    name = new_name(ds.repo_key)
    reg.push_dataset(name, ds)
    reg.check_referrers(name, ds)


# ------------------------------------------------------------------------------ old suite
ANNOTATION = "org.opencontainers.conformance.test"
NHL = "application/vnd.nhl.peanut.butter.bagel"
NBA = "application/vnd.nba.strawberry.jam.croissant"
FOOD = "application/vnd.food.stand"


def _artifact(
    config: dict[str, Any],
    layer: dict[str, Any],
    subject: Manifest,
    note: str,
    artifact_type: str | None = None,
) -> Manifest:
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_MANIFEST}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc.update({"config": config, "layers": [layer], "subject": subject.descriptor()})
    if note:
        doc["annotations"] = {ANNOTATION: note}
    return Manifest(canonical(doc))


def test_legacy_discovery(reg: Reg, repo1: str) -> None:
    """B.4: referrers pushed before their subject (OCI-Subject still returned); exactly 5
    referrers of manifests[4], each with exactly its 1 annotation; the artifactType filter
    applied (OCI-Filters-Applied exactly ``artifactType``) with exactly 2 entries; a subject
    never pushed lists exactly its 1 referrer; a digest with no referrers lists none."""
    d = legacy_data()
    subject, other = d.manifests[4], d.manifests[3]
    empty = Blob(EMPTY_JSON)
    assert empty.digest == EMPTY_JSON_SHA256
    ref_a = Blob(b"NHL Peanut Butter on my NHL bagel")
    ref_b = Blob(b"NBA Strawberry Jam on my NBA croissant")
    for blob in (d.configs[2], d.layer, empty, ref_a):
        reg.push_blob(repo1, blob, "post-put")
    for tag in ("test0", "test1", "test2", "test3"):
        reg.put_manifest(repo1, d.manifests[2], reference=tag)

    empty_cfg = empty.descriptor(MT_EMPTY)
    a_config = _artifact(
        {"mediaType": NHL, "digest": ref_a.digest, "size": ref_a.size},
        empty_cfg,
        subject,
        "test config a",
    )
    a_layer = _artifact(
        empty_cfg, ref_a.descriptor(NHL), subject, "test layer a", artifact_type=NHL
    )
    index_doc = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "artifactType": FOOD,
        "manifests": [a_config.descriptor(), a_layer.descriptor()],
        "subject": subject.descriptor(),
        "annotations": {ANNOTATION: "test index"},
    }
    ref_index = Manifest(canonical(index_doc))
    for m in (a_config, a_layer, ref_index):
        reg.put_manifest(repo1, m)  # checks OCI-Subject = manifests[4]

    for blob in (d.configs[4], ref_b):
        reg.push_blob(repo1, blob, "post-put")
    reg.put_manifest(repo1, subject, reference="tagtest0")
    b_config = _artifact(
        {"mediaType": NBA, "digest": ref_b.digest, "size": ref_b.size},
        empty_cfg,
        subject,
        "test config b",
    )
    b_layer = _artifact(
        empty_cfg, ref_b.descriptor(NBA), subject, "test layer b", artifact_type=NBA
    )
    c_layer = _artifact(empty_cfg, ref_b.descriptor(NBA), other, "", artifact_type=NBA)
    for m in (b_config, b_layer, c_layer):
        reg.put_manifest(repo1, m)  # c_layer: OCI-Subject = manifests[3], never pushed

    _, none = reg.referrers(repo1, d.dummy_digest)
    assert none == [], f"referrers of a digest nobody refers to: {none}"

    r, entries = reg.referrers(repo1, subject.digest)
    expected = [a_config, a_layer, ref_index, b_config, b_layer]
    assert len(entries) == 5, f"expected exactly 5 referrers, got {len(entries)}{describe(r)}"
    assert len({e["digest"] for e in entries}) == 5, f"duplicate referrers{describe(r)}"
    for m in expected:
        entry = find_entry(entries, m.digest)
        assert entry is not None, f"referrer {m.digest} missing{describe(r)}"
        assert entry.get("annotations") == m.annotations, (
            f"referrer {m.digest} must carry exactly {m.annotations}, got {entry}"
        )

    r, filtered = reg.referrers(repo1, subject.digest, NHL)
    assert r.headers.get("oci-filters-applied") == "artifactType", (
        f"OCI-Filters-Applied must be exactly 'artifactType'{describe(r)}"
    )
    assert sorted(e["digest"] for e in filtered) == sorted([a_config.digest, a_layer.digest]), (
        f"filter {NHL}: expected exactly the 2 NHL artifacts{describe(r)}"
    )
    for m in (a_config, a_layer):
        entry = find_entry(filtered, m.digest)
        assert entry is not None and entry.get("annotations") == m.annotations, describe(r)
        assert entry.get("artifactType") == NHL, describe(r)

    r, only = reg.referrers(repo1, other.digest)
    assert [e["digest"] for e in only] == [c_layer.digest], (
        f"referrers of a subject never pushed: expected exactly {c_layer.digest}{describe(r)}"
    )

    for m in (c_layer, b_layer, b_config, ref_index, a_layer, a_config, subject, d.manifests[2]):
        reg.delete_manifest(repo1, m.digest)
    for blob in (d.configs[2], d.configs[4], d.layer, empty, ref_a, ref_b):
        reg.delete_blob(repo1, blob.digest)

"""Deletion (A.10 and the old management workflow B.5): tags, then manifests by digest in
reverse push order, then blobs; each DELETE answers 202 and a HEAD straight after answers 404.
"""

from __future__ import annotations

import pytest

from ._data import DATASETS, build_dataset, legacy_data
from ._registry import Reg, describe, expect, new_name


@pytest.mark.parametrize("dataset", DATASETS)
def test_delete(reg: Reg, dataset: str) -> None:
    ds = build_dataset(dataset)
    name = new_name(ds.repo_key)
    reg.push_dataset(name, ds)
    reg.delete_dataset(name, ds)


def test_legacy_management(reg: Reg, repo1: str) -> None:
    """B.5 (and the older 06/09 tests): DELETE of tag tagtest0 -> 202; DELETE of the manifest
    by digest -> 202 and GET 404; the tag list -> 200 and shorter than before; DELETE of the
    config and layer blobs -> 202, and the config GETs 404."""
    d = legacy_data()
    manifest = d.manifests[3]
    for blob in (d.configs[3], d.layer):
        reg.push_blob(repo1, blob, "post-put")
    reg.put_manifest(repo1, manifest, reference="tagtest0")
    _, before = reg.tags(repo1)
    assert "tagtest0" in before

    expect(reg.delete(reg.manifest_url(repo1, "tagtest0")), 202, what="DELETE of a tag")
    expect(reg.head(reg.manifest_url(repo1, "tagtest0")), 404, what="HEAD of a deleted tag")
    expect(reg.delete(reg.manifest_url(repo1, manifest.digest)), 202, what="DELETE of a manifest")
    expect(reg.get(reg.manifest_url(repo1, manifest.digest)), 404, what="GET after DELETE")
    r, after = reg.tags(repo1)
    assert len(after) < len(before), f"tag list did not shrink: {before} -> {after}{describe(r)}"
    assert "tagtest0" not in after, describe(r)

    for blob in (d.configs[3], d.layer):
        expect(reg.delete(reg.blob_url(repo1, blob.digest)), 202, what="DELETE of a blob")
    expect(reg.get(reg.blob_url(repo1, d.configs[3].digest)), 404, what="GET of a deleted blob")

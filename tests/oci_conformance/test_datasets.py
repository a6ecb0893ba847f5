"""Every data set of the conformance suite (A.11): push (A.6: blobs by every upload method,
manifests by digest with exact 201/Location/DCD/OCI-Subject/OCI-Tag, then tags), then HEAD and
GET of every tag and every digest (A.7: exact Content-Type, Content-Length, body, DCD).

``test_all_in_one_repository`` is the suite's TestAll order: every data set, one after another,
in the same repository (tags such as "image" and "index" reused, ``{}`` pushed again after it
was deleted), each going push -> tag list -> head/pull -> referrers -> delete.
"""

from __future__ import annotations

import pytest

from ._data import DATASETS, bad_digest_image, build_dataset
from ._registry import PUSH_METHODS, Reg, new_name


@pytest.mark.parametrize("dataset", DATASETS)
def test_push_head_pull(reg: Reg, dataset: str) -> None:
    ds = build_dataset(dataset)
    name = new_name(ds.repo_key)
    reg.push_dataset(name, ds)
    reg.check_pull(name, ds)


def test_all_in_one_repository(reg: Reg) -> None:
    names = {"dev": new_name("dev"), "sparse": new_name("sparse")}
    for dataset in DATASETS:
        ds = build_dataset(dataset)
        name = names[ds.repo_key]
        try:
            reg.push_dataset(name, ds)
            reg.check_tag_list(name, ds)
            reg.check_pull(name, ds)
            reg.check_referrers(name, ds)
            reg.delete_dataset(name, ds)
        except AssertionError as exc:
            raise AssertionError(f"data set {dataset} (in {name}): {exc}") from None
    # the suite's last data set: the manifest PUT is refused, nothing stays behind
    ds, manifest, altered = bad_digest_image()
    name = names["dev"]
    for i, blob in enumerate(ds.blobs):
        reg.push_blob(name, blob, PUSH_METHODS[i % len(PUSH_METHODS)])
    reg.put_bad_digest_manifest(name, manifest, altered)
    reg.delete_manifest(name, manifest.digest, status=404)
    for blob in ds.blobs:
        reg.delete_blob(name, blob.digest)

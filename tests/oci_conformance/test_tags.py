"""Tag listing (A.4, A.8, B.4 and the older 04 tests): every pushed tag listed, ``last``
pagination in lexical order, ``n`` returning exactly n, and the Link header."""

from __future__ import annotations

import re

import pytest

from ._data import DATASETS, build_dataset, legacy_data
from ._registry import Reg, describe, expect, new_name

TAGGED = [name for name in DATASETS if name != "sha512"]  # sha512 content carries no tags


def test_empty_repository_tags(reg: Reg, repo1: str) -> None:
    """A.4: a repository nothing was pushed to: 200 with JSON, or 404."""
    r = expect(reg.get(f"/v2/{repo1}/tags/list"), 200, 404, what="tag list of an empty name")
    if r.status_code == 200:
        assert isinstance(r.json().get("tags") or [], list), describe(r)


@pytest.mark.parametrize("dataset", TAGGED)
def test_tag_list(reg: Reg, dataset: str) -> None:
    ds = build_dataset(dataset)
    name = new_name(ds.repo_key)
    reg.push_dataset(name, ds)
    reg.check_tag_list(name, ds)


def test_legacy_tag_pagination(reg: Reg, repo1: str) -> None:
    """B.4 and the older discovery test: ?n=<half> returns exactly n tags with a Link header
    ``</v2/<name>/tags/list?n=N&last=X>; rel="next"``; ?n&last=tags[n-1] returns the rest,
    test3 among them."""
    d = legacy_data()
    for blob in (d.configs[2], d.layer):
        reg.push_blob(repo1, blob, "post-put")
    for tag in ("test0", "test1", "test2", "test3"):
        reg.put_manifest(repo1, d.manifests[2], reference=tag)
    _, tags = reg.tags(repo1)
    assert tags == ["test0", "test1", "test2", "test3"], f"tag list {tags}"
    reg.check_manifest(repo1, tags[0], d.manifests[2])
    num = len(tags)
    n = num // 2
    r, page = reg.tags(repo1, n=n)
    assert len(page) == n, f"?n={n} returned {len(page)} tags: {page}{describe(r)}"
    link = r.headers.get("link")
    assert link, f"?n={n} with more tags left must carry a Link header{describe(r)}"
    want = f'</v2/{repo1}/tags/list?n={n}&last={page[-1]}>; rel="next"'
    assert link == want, f"Link: expected {want!r}, got {link!r}"
    r2, rest = reg.tags(repo1, n=n, last=page[n - 1])
    assert "test3" in rest, f"?n={n}&last={page[n - 1]} must list test3, got {rest}"
    assert rest == tags[n:], f"second page {rest}, expected {tags[n:]}{describe(r2)}"
    for size in range(1, num + 1):
        r, page = reg.tags(repo1, n=size)
        assert page == tags[:size], f"?n={size} returned {page}{describe(r)}"
        if size < num:
            assert re.fullmatch(r'<[^>]+>; rel="next"', r.headers.get("link", "")), describe(r)
    reg.delete_manifest(repo1, d.manifests[2].digest)
    for blob in (d.configs[2], d.layer):
        reg.delete_blob(repo1, blob.digest)

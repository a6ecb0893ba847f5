"""The browsing pages' pure helpers (``tidegate.http.ui.browse_data``): the pipeline's stage
order from the gates' ``from`` chains, its rows, references and property lines checked before
they reach a URL or the API, manifests read for the image page, and pull commands."""

from __future__ import annotations

from typing import Any

import pytest

from tidegate.http.ui.browse_data import (
    checked_image,
    checked_ref,
    manifest_view,
    next_stage,
    parse_properties,
    pipeline_rows,
    pull_commands,
    stage_repositories,
)
from tidegate.http.ui.client import ApiError
from tidegate.http.ui.render import environment, human_size

DIGEST = "sha256:" + "a" * 64


def repo(key: str, stage: str | None, sources: list[str] | None = None) -> dict[str, Any]:
    options = {"gate": {"from": sources, "require": []}} if sources is not None else {}
    return {"key": key, "kind": "local", "stage": stage, "options": options}


def test_stages_follow_the_gates_from_chain_not_the_names() -> None:
    repos = [
        repo("live", "prod", ["qa"]),
        repo("qa", "test", ["stage:build"]),
        repo("snap", "build"),
        repo("scratch", None),
        {"key": "docker", "kind": "virtual", "stage": None, "options": {}},
    ]
    stages = stage_repositories(repos)
    assert [s["key"] for s in stages] == ["snap", "qa", "live"]
    assert next_stage(stages, "snap") == repos[1]
    assert next_stage(stages, "live") is None
    assert next_stage(stages, "scratch") is None


def test_stages_without_gates_go_dev_test_prod() -> None:
    stages = stage_repositories([repo("p", "prod"), repo("t", "test"), repo("d", "dev")])
    assert [s["key"] for s in stages] == ["d", "t", "p"]
    assert next_stage(stages, "d") == stages[1]


def test_pipeline_rows_put_the_newest_arrival_first() -> None:
    def item(
        repo: str, tag: str | None, pushed: str, promoted: str | None = None
    ) -> dict[str, Any]:
        props = {"tidegate.promoted_at": [promoted]} if promoted else {}
        return {
            "repo": repo,
            "image": "shop/cart",
            "tag": tag,
            "digest": DIGEST,
            "pushed_at": pushed,
            "properties": props,
        }

    rows = pipeline_rows(
        ["dev", "test"],
        [
            item("dev", "1.0", "2026-01-01T00:00:00Z"),
            item("dev", "1.1", "2026-01-02T00:00:00Z"),
            item("dev", None, "2026-01-03T00:00:00Z"),
            item("test", "1.0", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),
            item("hub", "x", "2026-01-01T00:00:00Z"),
        ],
    )
    assert [r.image for r in rows] == ["shop/cart"]
    dev, test = rows[0].cells
    assert [t["tag"] for t in dev.tags] == ["1.1", "1.0"]
    assert test.newest is not None and test.newest["arrived"] == "2026-01-05T00:00:00Z"


@pytest.mark.parametrize("ref", ["1.4.0", "latest", DIGEST, "sha512:" + "b" * 128, "x25519:abc"])
def test_good_references(ref: str) -> None:
    assert checked_ref(ref) == ref


@pytest.mark.parametrize("ref", ["", "a b", "../x", "sha256:abc", "sha256:" + "A" * 64, "-x"])
def test_bad_references_are_400(ref: str) -> None:
    with pytest.raises(ApiError) as caught:
        checked_ref(ref)
    assert caught.value.status == 400


def test_image_names() -> None:
    assert checked_image("shop/cart") == "shop/cart"
    for bad in ("Shop", "shop//cart", "/shop", "shop/", "a" * 256):
        with pytest.raises(ApiError):
            checked_image(bad)


def test_property_lines() -> None:
    text = "qa.uat=passed\n\n qa.ticket = QA-1 \nqa.ticket=QA-2\nqa.ticket=QA-1\nempty="
    assert parse_properties(text) == {
        "qa.uat": ["passed"],
        "qa.ticket": ["QA-1", "QA-2"],
        "empty": [""],
    }
    with pytest.raises(ApiError, match="line 2"):
        parse_properties("a=b\nno equals sign")


def test_an_index_and_an_image_manifest() -> None:
    index = manifest_view(
        DIGEST,
        "application/vnd.oci.image.index.v1+json",
        {
            "manifests": [
                {
                    "digest": DIGEST,
                    "size": 5,
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                }
            ]
        },
    )
    assert index.is_index and index.children[0]["platform_text"] == "linux/arm64/v8"
    image = manifest_view(
        DIGEST,
        "application/vnd.oci.image.manifest.v1+json",
        {"config": {"digest": DIGEST, "size": 10}, "layers": [{"size": 100}, {"size": 1}]},
    )
    assert not image.is_index and image.size == 111
    with pytest.raises(ApiError):
        manifest_view(DIGEST, "", None)


def test_pull_commands_by_tag_and_by_digest() -> None:
    assert pull_commands("reg:5000", "prod", "shop/cart", "1.4.0") == [
        ("docker", "docker pull reg:5000/prod/shop/cart:1.4.0"),
        ("podman", "podman pull reg:5000/prod/shop/cart:1.4.0"),
        ("containerd", "ctr images pull reg:5000/prod/shop/cart:1.4.0"),
    ]
    assert pull_commands("h", "dev", "a", DIGEST)[0][1] == f"docker pull h/dev/a@{DIGEST}"


def test_a_manifest_with_sizes_that_are_not_numbers_has_a_size_anyway() -> None:
    image = manifest_view(
        DIGEST,
        "",
        {"config": {"digest": DIGEST, "size": "ten"}, "layers": [{"size": 100}, {"size": None}]},
    )
    assert image.size == 100


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (10 * 1024**3, "10.0 GiB"),
        (3 * 1024**6, "3.0 EiB"),
        (10**400, "more than 100000000000000 EiB"),  # no float holds it
        (1e300, "more than 100000000000000 EiB"),
        (-1, "—"),
        ("10GiB", "—"),
        (None, "—"),
        (True, "—"),
        (float("nan"), "—"),
        (float("inf"), "—"),
    ],
)
def test_a_size_of_any_json_value_is_shown_without_raising(value: Any, shown: str) -> None:
    assert human_size(value) == shown


def test_the_settings_of_a_repository_with_a_400_digit_quota_render() -> None:
    settings = environment().get_template("browse/_settings.html")
    text = settings.render(r={"kind": "local", "options": {"quota": int("9" * 400)}})
    assert "quota more than 100000000000000 EiB" in text

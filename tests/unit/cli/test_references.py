"""How the CLI reads image versions and key=value pairs."""

from __future__ import annotations

import pytest

from tidegate.cli.client import EXIT_USAGE, CliError
from tidegate.cli.references import ImageVersion, parse_pairs, parse_version

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dev/shop/cart:1.4.0", ImageVersion("dev", "shop/cart", "1.4.0", None)),
        ("dev/cart:latest", ImageVersion("dev", "cart", "latest", None)),
        (f"test/shop/cart@{DIGEST}", ImageVersion("test", "shop/cart", None, DIGEST)),
    ],
)
def test_versions(text: str, expected: ImageVersion) -> None:
    assert parse_version(text) == expected
    assert parse_version(text).reference == (expected.tag or expected.digest)


@pytest.mark.parametrize("text", ["dev/shop/cart", "dev:1.0", "shop", ":1.0", "dev/a@"])
def test_incomplete_versions_are_usage_errors(text: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_version(text)
    assert caught.value.exit_code == EXIT_USAGE


def test_pairs_collect_values_and_keep_separators() -> None:
    assert parse_pairs(["a=1", "a=2", "b=x=y,z;w", "c="]) == {
        "a": ["1", "2"],
        "b": ["x=y,z;w"],
        "c": [""],
    }
    with pytest.raises(CliError):
        parse_pairs(["novalue"])

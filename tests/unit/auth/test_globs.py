"""Glob patterns for repository keys and image names (permission targets' include/exclude)."""

from __future__ import annotations

import pytest

from tidegate.auth.globs import matches, matches_any


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        # "**": any run of characters, slashes included
        ("**", "cart", True),
        ("**", "shop/cart/debug", True),
        ("shop/**", "shop/cart", True),
        ("shop/**", "shop/a/b/c", True),
        ("shop/**", "shop", True),  # "a/**" also covers "a" itself
        ("shop/**", "shopping/cart", False),
        ("shop/**", "shopx", False),
        ("shop/**", "other/shop/cart", False),
        ("**/debug", "debug", True),  # "**/b" also covers "b"
        ("**/debug", "shop/debug", True),
        ("**/debug", "shop/cart/debug", True),
        ("**/debug", "shop/debugger", False),
        ("**/debug", "xdebug", False),
        ("shop/**/debug", "shop/debug", True),
        ("shop/**/debug", "shop/cart/debug", True),
        ("shop/**/debug", "shop/a/b/debug", True),
        ("shop/**/debug", "shop/adebug", False),
        ("shop/**/debug", "shop/cart/debug/x", False),
        ("shop/**cart", "shop/a/b/cart", True),
        ("shop/**cart", "shop/xcart", True),
        # "*": within one path segment
        ("*", "cart", True),
        ("*", "shop/cart", False),
        ("shop/*", "shop/cart", True),
        ("shop/*", "shop/cart/debug", False),
        ("shop/*", "shop", False),
        ("team-*", "team-a", True),
        ("team-*", "teamb", False),
        ("team-*", "team-a/app", False),
        ("*/cart", "shop/cart", True),
        ("*/cart", "a/shop/cart", False),
        ("shop/*/debug", "shop/cart/debug", True),
        ("shop/*/debug", "shop/a/b/debug", False),
        # "?": one character other than "/"
        ("v?", "v1", True),
        ("v?", "v12", False),
        ("v?", "v", False),
        ("shop?cart", "shop/cart", False),
        ("shop?cart", "shop-cart", True),
        # everything else is literal, and a pattern matches the whole name
        ("shop/cart", "shop/cart", True),
        ("shop/cart", "shop/carts", False),
        ("shop/cart", "xshop/cart", False),
        ("shop/cart", "shop/cart/debug", False),
        ("a.b", "axb", False),
        ("a.b", "a.b", True),
        ("a+b", "aab", False),
        ("a+b", "a+b", True),
        ("[ab]", "a", False),
        ("[ab]", "[ab]", True),
        ("(x|y)", "x", False),
        ("dev", "Dev", False),
    ],
)
def test_pattern_matches_the_whole_name(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


def test_a_double_star_inside_a_segment_still_needs_the_slash_that_follows_it() -> None:
    """``team-**/app``: ``team-``, any run, then ``/app``. Only a ``**/`` that starts a segment
    may also match nothing at all (``**/b`` covers ``b``)."""
    assert matches("team-**/app", "team-x/app")
    assert matches("team-**/app", "team-x/y/app")
    assert not matches("team-**/app", "team-app")


def test_matches_any() -> None:
    assert matches_any(("shop/**", "tools/*"), "tools/lint")
    assert matches_any(["shop/**", "tools/*"], "shop/cart")
    assert not matches_any(("shop/**", "tools/*"), "tools/lint/extra")
    assert not matches_any((), "shop/cart")  # no pattern covers nothing


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*-*-*-*-*-tmp", "-".join(["a"] * 120), False),
        ("*-*-*-*-*-tmp", "-".join(["a"] * 120) + "-tmp", True),
        ("*a*a*a*a*a*a*a*a*b", "a" * 60, False),
        ("**a**a**a**a**a**b", "a/" * 100, False),
    ],
)
def test_patterns_that_make_a_backtracking_matcher_explode(
    pattern: str, name: str, expected: bool
) -> None:
    """A regular expression needs seconds to minutes for these (measured: 4 s and 68 s); the
    state-set matcher answers them like any other pattern, so they complete here at once."""
    assert matches(pattern, name) is expected

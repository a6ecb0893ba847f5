"""Search helpers: glob prefilters for SQL and the opaque cursor."""

from __future__ import annotations

import re

import pytest

from tidegate.auth.globs import matches
from tidegate.errors import InvalidRequest
from tidegate.services import search


@pytest.mark.parametrize(
    ("glob", "like"),
    [
        ("shop/**", "shop/%"),
        ("shop/*", "shop/%"),
        ("*-rc?", "%-rc_"),
        ("100%_done", "100\\%\\_done"),
        ("a\\b", "a\\\\b"),
        ("***", "%"),
    ],
)
def test_globs_become_like_prefilters(glob: str, like: str) -> None:
    assert search.glob_to_like(glob) == like


@pytest.mark.parametrize(
    ("glob", "name"),
    [("shop/*", "shop/cart"), ("**/cart", "a/b/cart"), ("v?.*", "v1.2"), ("100%_x", "100%_x")],
)
def test_every_name_a_glob_matches_passes_its_prefilter(glob: str, name: str) -> None:
    """The prefilter may let more through (the glob decides), never less."""
    assert matches(glob, name)
    like = search.glob_to_like(glob)
    # LIKE semantics, by hand: % any run, _ one character, backslash escapes
    regex = ""
    i = 0
    while i < len(like):
        if like[i] == "\\":
            regex += re.escape(like[i + 1])
            i += 2
            continue
        regex += {"%": ".*", "_": "."}.get(like[i], re.escape(like[i]))
        i += 1
    assert re.fullmatch(regex, name, re.DOTALL)


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    cursor = ("dev", "shop/cart", "1.4.0", "sha256:" + "a" * 64)
    assert search._decode(search._encode(cursor)) == cursor
    for forged in ("not base64!", search._encode(("a", "b", "c", "d"))[:-3] + "xyz", "W10"):
        with pytest.raises(InvalidRequest, match="cursor"):
            search._decode(forged)

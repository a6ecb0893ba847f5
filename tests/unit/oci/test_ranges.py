"""Byte ranges: ``Range`` on blob reads, ``Content-Range`` on chunked uploads."""

from __future__ import annotations

import pytest

from tidegate.errors import RangeNotSatisfiable
from tidegate.oci.ranges import parse_content_range, parse_range

SIZE = 100

# --- Range ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=0-", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=50-", (50, 99)),
        ("bytes=99-", (99, 99)),
        ("bytes=99-99", (99, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-1000", (0, 99)),
        ("bytes=10-1000", (10, 99)),
        ("bytes=0-0", (0, 0)),
        (" bytes=10-19 ", (10, 19)),
    ],
    ids=[
        "full",
        "open-from-zero",
        "middle",
        "open",
        "open-last-byte",
        "last-byte",
        "suffix",
        "suffix-one",
        "suffix-larger-than-blob",
        "end-clamped",
        "first-byte",
        "surrounding-spaces",
    ],
)
def test_parse_range(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize("header", [None, ""])
def test_no_range_means_the_whole_blob(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    "header",
    [
        "bytes=-",
        "bytes=a-b",
        "bytes=0-10,20-30",
        "items=0-10",
        "0-10",
        "bytes 0-10",
        "bytes=--5",
    ],
)
def test_malformed_range_is_ignored(header: str) -> None:
    """RFC 9110: a server may ignore a Range it does not understand and send everything."""
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-199", SIZE),
        ("bytes=100-", SIZE),
        ("bytes=150-", SIZE),
        ("bytes=1000-2000", SIZE),
        ("bytes=-0", SIZE),
        ("bytes=20-10", SIZE),
    ],
    ids=[
        "start-at-size",
        "open-start-at-size",
        "open-start-beyond-size",
        "start-beyond-size",
        "empty-suffix",
        "reversed",
    ],
)
def test_unsatisfiable_range_reports_the_size(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        parse_range(header, size)

    assert raised.value.size == size
    assert header in raised.value.message


# --- Content-Range ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0-1023", (0, 1023)),
        ("1024-2047", (1024, 2047)),
        ("bytes 0-1023", (0, 1023)),
        ("bytes 0-1023/2048", (0, 1023)),
        ("bytes 0-1023/*", (0, 1023)),
        ("bytes=0-1023", (0, 1023)),
        ("0-0", (0, 0)),
        (" 5-9 ", (5, 9)),
    ],
)
def test_parse_content_range(header: str, expected: tuple[int, int]) -> None:
    assert parse_content_range(header) == expected


@pytest.mark.parametrize("header", [None, ""])
def test_absent_content_range(header: str | None) -> None:
    assert parse_content_range(header) is None


@pytest.mark.parametrize(
    "header",
    ["abc", "0-", "-1023", "0", "bytes 0-1023/abc", "items 0-1023", "0 - 1023", "10-5", "a-b"],
)
def test_malformed_content_range_is_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        parse_content_range(header)

    assert header in raised.value.message

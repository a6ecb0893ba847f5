"""Property values as callers give them: limits, system keys, duplicates."""

from __future__ import annotations

import pytest

from tidegate.errors import Denied, InvalidRequest
from tidegate.services.properties import (
    MAX_VALUE_BYTES,
    MAX_VALUES_PER_KEY,
    parse_reference,
    validate_values,
)


def test_values_are_deduplicated_in_order() -> None:
    assert validate_values({"k": ["b", "a", "b"], "e": []}) == {"k": ["b", "a"], "e": []}


def test_a_value_may_hold_4_kib_of_utf8() -> None:
    assert validate_values({"k": ["x" * MAX_VALUE_BYTES]})
    assert validate_values({"k": ["é" * (MAX_VALUE_BYTES // 2)]})
    for too_long in ("x" * (MAX_VALUE_BYTES + 1), "é" * (MAX_VALUE_BYTES // 2 + 1)):
        with pytest.raises(InvalidRequest):
            validate_values({"k": [too_long]})


def test_too_many_values_bad_keys_and_bad_text_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        validate_values({"k": [str(i) for i in range(MAX_VALUES_PER_KEY + 1)]})
    for bad in ({"Key": ["x"]}, {"k": "x"}, {"k": [1]}, {"k": ["\ud800"]}, {"k": ["a\x00b"]}):
        with pytest.raises(InvalidRequest):
            validate_values(bad)  # type: ignore[arg-type]


def test_system_keys_are_read_only() -> None:
    with pytest.raises(Denied):
        validate_values({"tidegate.pushed_by": ["mallory"]})


def test_references_are_a_tag_or_a_digest() -> None:
    digest = "sha256:" + "b" * 64
    assert parse_reference("1.4.0") == ("1.4.0", None)
    assert parse_reference(digest) == (None, digest)

"""The Artifactory property syntax: ``key=v1,v2;key2=v3`` with backslash escapes."""

from __future__ import annotations

import re

import pytest

from tidegate.errors import InvalidRequest
from tidegate.http.api.artifactory import parse_properties


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("qa.automated=passed", {"qa.automated": ["passed"]}),
        ("k=v1,v2;k2=v3", {"k": ["v1", "v2"], "k2": ["v3"]}),
        ("k=a\\,b;k2=c\\;d", {"k": ["a,b"], "k2": ["c;d"]}),
        ("k=x=y", {"k": ["x=y"]}),
        ("k=a\\=b", {"k": ["a=b"]}),
        ("k=back\\\\slash", {"k": ["back\\slash"]}),
        ("k=", {"k": [""]}),
        ("k=v;;k2=w;", {"k": ["v"], "k2": ["w"]}),
        ("k=é,日本", {"k": ["é", "日本"]}),
        ("k=1;k=2", {"k": ["1", "2"]}),
    ],
)
def test_property_syntax(text: str, expected: dict[str, list[str]]) -> None:
    assert parse_properties(text) == expected


def test_a_property_without_a_value_is_refused_with_its_name() -> None:
    with pytest.raises(InvalidRequest, match=re.escape("'qa.uat' has no '=value'")):
        parse_properties("qa.automated=passed;qa.uat")

"""``tidegate cleanup``: reading a policy file and showing sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.cli.cleanup import EXIT_REFUSED, read_policy, size
from tidegate.cli.client import EXIT_GATE, EXIT_SERVER, EXIT_USAGE, CliError


def test_a_policy_file_is_yaml_or_json_and_may_be_just_the_rules(tmp_path: Path) -> None:
    full = tmp_path / "p.yaml"
    full.write_text("rules:\n  - tags: '*-SNAPSHOT'\n    keep_last: 3\nuntagged_older_than: 7d\n")
    assert read_policy(full) == {
        "rules": [{"tags": "*-SNAPSHOT", "keep_last": 3}],
        "untagged_older_than": "7d",
    }
    rules = tmp_path / "r.json"
    rules.write_text('[{"tags": "*", "older_than": "90d"}]')
    assert read_policy(rules) == {"rules": [{"tags": "*", "older_than": "90d"}]}


@pytest.mark.parametrize("text", ["rules: [", "just words", "42"])
def test_an_unreadable_policy_file_is_a_usage_error(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(CliError) as info:
        read_policy(bad)
    assert info.value.exit_code == EXIT_USAGE


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CliError) as info:
        read_policy(tmp_path / "nope.yaml")
    assert "nope.yaml" in info.value.message


def test_refused_items_have_their_own_exit_code() -> None:
    assert EXIT_REFUSED not in (EXIT_USAGE, 3, 4, 5, EXIT_SERVER, EXIT_GATE)


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (1023, "1023 B"), (48_640, "47.5 KiB"), (5 * 1024**3, "5.0 GiB")]
)
def test_sizes_for_people(n: int, text: str) -> None:
    assert size(n) == text

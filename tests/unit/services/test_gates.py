"""Gates: parsing conditions and gates, and the evaluation docs/promotion.md specifies."""

from __future__ import annotations

import pytest

from tidegate.errors import InvalidRequest
from tidegate.services.gates import OPEN, evaluate, failed, parse_condition, parse_gate

PROD = parse_gate({"from": ["test"], "require": ["qa.automated=passed", "qa.uat=passed"]})


@pytest.mark.parametrize(
    ("text", "kind", "key", "value"),
    [
        ("qa.automated=passed", "eq", "qa.automated", "passed"),
        ("qa.automated!=failed", "ne", "qa.automated", "failed"),
        ("qa.report", "present", "qa.report", None),
        ("!blocked", "absent", "blocked", None),
        ("referrer=application/spdx+json", "referrer", "application/spdx+json", None),
        ("k=a=b", "eq", "k", "a=b"),
        ("k=", "eq", "k", ""),
    ],
)
def test_conditions_parse(text: str, kind: str, key: str, value: str | None) -> None:
    c = parse_condition(text)
    assert (c.text, c.kind, c.key, c.value) == (text, kind, key, value)


@pytest.mark.parametrize(
    "text", ["", "Upper=x", "=x", "!", "!=x", "-k", "referrer=", "k" * 129, "a b"]
)
def test_malformed_conditions_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_condition(text)


@pytest.mark.parametrize(
    "data",
    [
        {"from": "test"},
        {"from": [""]},
        {"require": "qa=passed"},
        {"require": [1]},
        {"allow": []},
        ["test"],
    ],
)
def test_malformed_gates_are_refused(data: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_gate(data)  # type: ignore[arg-type]


def test_no_gate_lets_anything_arrive() -> None:
    assert parse_gate(None) == OPEN
    assert parse_gate({}) == OPEN
    result = evaluate(OPEN, "dev", "dev", {}, set())
    assert result["passed"] is True
    assert [c["condition"] for c in result["checks"]] == ["from"]


def test_gate_round_trips_without_duplicates() -> None:
    gate = parse_gate({"from": ["test", "test"], "require": ["a", "a", "!b"]})
    assert gate.as_dict() == {"from": ["test"], "require": ["a", "!b"]}


def test_prod_gate_passes_with_both_results() -> None:
    props = {"qa.automated": ["passed"], "qa.uat": ["passed", "retested"]}
    result = evaluate(PROD, "test", "test", props, set())
    assert result == {
        "passed": True,
        "checks": [
            {"condition": "from", "passed": True, "reason": "test is an allowed source (test)"},
            {
                "condition": "qa.automated=passed",
                "passed": True,
                "reason": "qa.automated is 'passed'",
            },
            {
                "condition": "qa.uat=passed",
                "passed": True,
                "reason": "qa.uat is 'passed', 'retested'",
            },
        ],
    }
    assert failed(result) == []


def test_prod_gate_lists_every_failed_condition() -> None:
    result = evaluate(PROD, "dev", "dev", {"qa.automated": ["failed"]}, set())
    assert result["passed"] is False
    assert failed(result) == [
        {"condition": "from", "reason": "dev is not an allowed source (allowed: test)"},
        {"condition": "qa.automated=passed", "reason": "qa.automated is 'failed'"},
        {"condition": "qa.uat=passed", "reason": "qa.uat is not set"},
    ]


def test_from_accepts_a_stage() -> None:
    gate = parse_gate({"from": ["stage:test"]})
    assert evaluate(gate, "qa-eu", "test", {}, set())["passed"] is True
    assert evaluate(gate, "qa-eu", "dev", {}, set())["passed"] is False
    assert evaluate(gate, "qa-eu", None, {}, set())["passed"] is False


@pytest.mark.parametrize(
    ("condition", "props", "referrers", "passed"),
    [
        ("k=v", {"k": ["v"]}, set(), True),
        ("k=v", {"k": ["w"]}, set(), False),
        ("k=v", {}, set(), False),
        ("k!=v", {"k": ["w"]}, set(), True),
        ("k!=v", {"k": ["w", "v"]}, set(), False),
        ("k!=v", {}, set(), True),
        ("k", {"k": ["x"]}, set(), True),
        ("k", {}, set(), False),
        ("!k", {}, set(), True),
        ("!k", {"k": ["x"]}, set(), False),
        ("referrer=application/spdx+json", {}, {"application/spdx+json"}, True),
        ("referrer=application/spdx+json", {}, {"application/vnd.cyclonedx+json"}, False),
    ],
)
def test_each_condition(
    condition: str, props: dict[str, list[str]], referrers: set[str], passed: bool
) -> None:
    result = evaluate(parse_gate({"require": [condition]}), "dev", None, props, referrers)
    assert result["passed"] is passed
    check = result["checks"][1]
    assert check["condition"] == condition
    assert check["passed"] is passed
    assert check["reason"]

"""Gates: the rules a target repository sets for arrivals by promotion (docs/promotion.md).

Owns: the property-key grammar, parsing and validating a gate (``{"from": [...], "require":
[...]}``) and its conditions (``k=v``, ``k!=v``, ``k``, ``!k``, ``referrer=<artifactType>``),
and the evaluation ``{"passed", "checks": [{"condition", "passed", "reason"}]}`` whose first
check is always the ``from`` rule. Pure: no I/O, imports nothing but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tidegate.errors import InvalidRequest

KEY_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_KEY = 128
REFERRER = "referrer="
MAX_CONDITIONS = 100

Kind = Literal["eq", "ne", "present", "absent", "referrer"]


def validate_key(key: str) -> str:
    if not isinstance(key, str) or len(key) > MAX_KEY or not KEY_RE.fullmatch(key):
        raise InvalidRequest(
            f"property key {str(key)[:80]!r} is not valid: 1-{MAX_KEY} lower-case letters,"
            " digits, '.', '_' or '-', starting with a letter or digit"
        )
    return key


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    kind: Kind
    key: str  # the artifact type for "referrer"
    value: str | None = None


def parse_condition(text: str) -> Condition:
    """One condition; ``InvalidRequest`` names what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise InvalidRequest("a gate condition must be a non-empty string")
    if text.startswith(REFERRER):
        artifact_type = text[len(REFERRER) :]
        if not artifact_type:
            raise InvalidRequest(f"condition {text!r} names no artifact type")
        return Condition(text, "referrer", artifact_type)
    if text.startswith("!"):
        return Condition(text, "absent", validate_key(text[1:]))
    if "!=" in text:
        key, _, value = text.partition("!=")
        return Condition(text, "ne", validate_key(key), value)
    if "=" in text:
        key, _, value = text.partition("=")
        return Condition(text, "eq", validate_key(key), value)
    return Condition(text, "present", validate_key(text))


@dataclass(frozen=True, slots=True)
class Gate:
    sources: tuple[str, ...]  # repository keys or "stage:<name>"; empty: any source
    require: tuple[Condition, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {"from": list(self.sources), "require": [c.text for c in self.require]}


OPEN = Gate((), ())


def parse_gate(data: Mapping[str, Any] | None) -> Gate:
    """A gate from its stored or requested form (``None`` or ``{}``: no rules)."""
    if data is None:
        return OPEN
    if not isinstance(data, Mapping):
        raise InvalidRequest('a gate is an object {"from": [...], "require": [...]}')
    unknown = sorted(set(data) - {"from", "require"})
    if unknown:
        raise InvalidRequest(f"unknown gate field(s): {', '.join(unknown)}")
    sources = data.get("from") or []
    require = data.get("require") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise InvalidRequest('gate "from" must be a list of repository keys or "stage:<name>"')
    if not isinstance(require, list):
        raise InvalidRequest('gate "require" must be a list of conditions')
    if len(require) > MAX_CONDITIONS:
        raise InvalidRequest(f"a gate holds at most {MAX_CONDITIONS} conditions")
    conditions = tuple(parse_condition(c) for c in dict.fromkeys(require))
    return Gate(tuple(dict.fromkeys(sources)), conditions)


def _check(condition: str, passed: bool, reason: str) -> dict[str, Any]:
    return {"condition": condition, "passed": passed, "reason": reason}


def _from_check(gate: Gate, source: str, source_stage: str | None) -> dict[str, Any]:
    if not gate.sources:
        return _check("from", True, "the gate allows any source")
    allowed = ", ".join(gate.sources)
    if source in gate.sources:
        return _check("from", True, f"{source} is an allowed source ({allowed})")
    if source_stage and f"stage:{source_stage}" in gate.sources:
        return _check("from", True, f"{source} has stage {source_stage} ({allowed})")
    return _check("from", False, f"{source} is not an allowed source (allowed: {allowed})")


def _shown(values: list[str]) -> str:
    return ", ".join(repr(v[:80]) for v in values[:5]) + (" ..." if len(values) > 5 else "")


def _condition_check(
    c: Condition, properties: Mapping[str, list[str]], referrer_types: Collection[str]
) -> dict[str, Any]:
    values = list(properties.get(c.key, [])) if c.kind != "referrer" else []
    if c.kind == "referrer":
        ok = c.key in referrer_types
        why = "a referrer of that type is attached" if ok else "no referrer of that type"
        return _check(c.text, ok, why)
    if c.kind == "present":
        ok = bool(values)
        return _check(c.text, ok, f"{c.key} is set" if ok else f"{c.key} is not set")
    if c.kind == "absent":
        ok = not values
        return _check(c.text, ok, f"{c.key} is not set" if ok else f"{c.key} is set")
    assert c.value is not None
    if not values:
        return _check(c.text, c.kind == "ne", f"{c.key} is not set")
    has = c.value in values
    ok = has if c.kind == "eq" else not has
    return _check(c.text, ok, f"{c.key} is {_shown(values)}")


def holds(
    c: Condition, properties: Mapping[str, list[str]], referrer_types: Collection[str]
) -> bool:
    """Whether one condition holds for these properties and referrer types (retention's
    ``where`` and ``protect`` use the gate grammar)."""
    return bool(_condition_check(c, properties, referrer_types)["passed"])


def evaluate(
    gate: Gate,
    source: str,
    source_stage: str | None,
    properties: Mapping[str, list[str]],
    referrer_types: Collection[str],
) -> dict[str, Any]:
    """The evaluation of an arrival from ``source`` carrying ``properties`` (source ones plus
    the request's) and referrers of ``referrer_types``."""
    checks = [_from_check(gate, source, source_stage)]
    checks += [_condition_check(c, properties, referrer_types) for c in gate.require]
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def failed(evaluation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The failed checks as ``[{"condition", "reason"}]`` (the 409 answer's ``failed``)."""
    return [
        {"condition": c["condition"], "reason": c["reason"]}
        for c in evaluation["checks"]
        if not c["passed"]
    ]

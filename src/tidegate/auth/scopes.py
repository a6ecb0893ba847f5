"""Docker token scopes: ``repository:<name>:<actions>`` and ``registry:catalog:*``."""

from __future__ import annotations

from dataclasses import dataclass

from tidegate.auth.principals import Action

# Wire action -> Tidegate action needed.
WIRE_ACTIONS: dict[str, Action] = {
    "pull": Action.READ,
    "push": Action.DEPLOY,
    "delete": Action.DELETE,
}


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    def as_claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scope(text: str) -> Scope | None:
    """Parse one scope; None for anything malformed (ignored, as the token spec allows)."""
    parts = text.split(":")
    if len(parts) < 3:
        return None
    kind = parts[0]
    actions = parts[-1]
    name = ":".join(parts[1:-1])  # a name may carry a :port in other registries
    if "(" in kind:  # "repository(plugin)" resource classes
        kind = kind.split("(", 1)[0]
    if kind not in ("repository", "registry") or not name:
        return None
    wanted = tuple(sorted({a for a in actions.split(",") if a}))
    return Scope(kind, name, wanted)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Several ``scope`` parameters, each possibly space-separated (OAuth2 form)."""
    result: list[Scope] = []
    for value in values:
        for item in value.split():
            scope = parse_scope(item)
            if scope is not None:
                result.append(scope)
    return result

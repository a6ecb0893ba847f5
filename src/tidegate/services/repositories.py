"""Repositories as the management API shows them, and their gates.

Owns: listing repositories (key, kind, stage, options), reading a repository's gate, and
replacing it (needs ``manage`` on the repository; validated by ``services.gates``; audited in
the same transaction). Options are stored on the repository row (``options.gate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action
from tidegate.db import Database
from tidegate.db import repositories as repo_q
from tidegate.db.records import RepositoryRecord
from tidegate.errors import Denied, InvalidRequest, NotFound
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.gates import parse_gate
from tidegate.services.names import NameResolver

STAGE_PREFIX = "stage:"


@dataclass(frozen=True, slots=True)
class RepositoryView:
    key: str
    kind: str
    stage: str | None
    options: dict[str, Any]


def _view(record: RepositoryRecord) -> RepositoryView:
    return RepositoryView(record.key, record.kind, record.stage, dict(record.options))


class RepositoryService:
    def __init__(
        self,
        db: Database,
        names: NameResolver,
        evaluator: PermissionEvaluator,
        audit: AuditLog,
    ) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator
        self._audit = audit

    def list_all(self) -> list[RepositoryView]:
        with self._db.read() as conn:
            return [_view(r) for r in repo_q.list_all(conn)]

    def get(self, key: str) -> RepositoryView:
        with self._db.read() as conn:
            record = repo_q.get_by_key(conn, key)
        if record is None:
            raise NotFound(f"no repository {key!r}")
        return _view(record)

    def gate(self, key: str) -> dict[str, list[str]]:
        return parse_gate(self.get(key).options.get("gate")).as_dict()

    def set_gate(self, actor: Actor, key: str, gate: Mapping[str, Any]) -> dict[str, list[str]]:
        """Replace the gate of ``key`` (``{}``: no rules)."""
        parsed = parse_gate(gate)
        if not self._evaluator.allowed(actor.principal, key, "", Action.MANAGE):
            raise Denied(f"{actor.name} may not change the gate of {key!r}: that needs manage")
        with self._db.transaction() as conn:
            record = repo_q.get_by_key(conn, key)
            if record is None:
                raise NotFound(f"no repository {key!r}")
            known = {r.key for r in repo_q.list_all(conn)}
            unknown = [s for s in parsed.sources if not s.startswith(STAGE_PREFIX)]
            unknown = [s for s in unknown if s not in known]
            if unknown:
                raise InvalidRequest(
                    f"unknown source repository(ies) {', '.join(unknown)}: use repository keys"
                    f" or {STAGE_PREFIX}<name>"
                )
            options = {**record.options, "gate": parsed.as_dict()}
            repo_q.set_options(conn, key, options)
            self._audit.record(conn, actor, "repository.gate_updated", key, parsed.as_dict())
        self._names.repositories()  # reload this process's cached repository rows
        return parsed.as_dict()

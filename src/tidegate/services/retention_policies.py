"""Retention policies per repository and their scheduled runs (docs/lifecycle.md).

Owns: who may set a policy (``manage`` and ``delete`` on every image of the repository: a
schedule applies it unattended, with the rights of ``SCHEDULER``), where a policy is stored
(the repository's ``retention`` option), when a scheduled run is due (its clock starts when the
policy is set, or when the scheduler first sees a policy from the config file), and that one
process in the deployment runs each due run: a plan by ``SCHEDULER`` applied at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import cleanup as cleanup_q
from tidegate.db import repositories as repo_q
from tidegate.db.records import RepositoryRecord
from tidegate.errors import Denied, InvalidRequest, NotFound, TidegateError
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.cleanup import CleanupService
from tidegate.services.names import NameResolver
from tidegate.services.retention import parse_policy

log = structlog.get_logger("tidegate.cleanup")

# The actor of scheduled runs: may delete anywhere, but protected repositories stay untouched.
SCHEDULER = Principal("service", "tidegate-retention", is_admin=True)


class RetentionPolicies:
    def __init__(
        self,
        db: Database,
        names: NameResolver,
        evaluator: PermissionEvaluator,
        audit: AuditLog,
        cleanup: CleanupService,
    ) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator
        self._audit = audit
        self._cleanup = cleanup

    def _repository(self, key: str) -> RepositoryRecord:
        self._names.repositories()  # fresh rows: protection and policies must be current
        record = self._names.repository(key)
        if record is None:
            raise NotFound(f"no repository {key!r}")
        return record

    # --- policies ------------------------------------------------------------------------

    def retention(self, key: str) -> dict[str, Any]:
        """The policy, and with a ``schedule`` its ``next_run_at`` (null until the scheduler
        first sees a policy that came from the config file)."""
        record = self._repository(key)
        policy = record.options.get("retention")
        if not policy:
            raise NotFound(f"repository {key!r} has no retention policy")
        return self._with_next_run(record.id, dict(policy))

    def _with_next_run(self, repository_id: int, policy: dict[str, Any]) -> dict[str, Any]:
        if not policy.get("schedule"):
            return policy
        schedule = parse_policy(policy).schedule
        with self._db.read() as conn:
            last = cleanup_q.last_run(conn, repository_id)
        if schedule is None or last is None:
            return {**policy, "next_run_at": None}
        at = datetime.fromtimestamp(last, UTC) + schedule
        return {**policy, "next_run_at": at}

    def set_retention(self, actor: Actor, key: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the policy of ``key`` (``manage`` on it; local repositories only)."""
        policy = parse_policy(data)
        self._require_manage(actor, key)
        return self._store_policy(actor, key, policy.as_dict())

    def delete_retention(self, actor: Actor, key: str) -> None:
        self._require_manage(actor, key)
        self._store_policy(actor, key, None)

    def _require_manage(self, actor: Actor, key: str) -> None:
        record = self._repository(key)
        # The policy runs on every image of the repository (a schedule runs it unattended):
        # who sets it must be able to manage and delete every one of them.
        if not (
            self._evaluator.allowed_everywhere(actor.principal, key, Action.MANAGE)
            and self._evaluator.allowed_everywhere(actor.principal, key, Action.DELETE)
        ):
            raise Denied(
                f"{actor.name} may not change the retention of {key!r}: that needs manage and"
                " delete on every image of the repository (a grant limited to some images is"
                " not enough)"
            )
        if record.kind != "local":
            raise InvalidRequest(
                f"repository {key!r} is a {record.kind} repository; retention policies apply"
                " to local repositories"
            )

    def _store_policy(
        self, actor: Actor, key: str, policy: dict[str, Any] | None
    ) -> dict[str, Any]:
        with self._db.transaction() as conn:
            record = repo_q.get_by_key(conn, key)
            if record is None:
                raise NotFound(f"no repository {key!r}")
            options = {k: v for k, v in record.options.items() if k != "retention"}
            if policy is not None:
                options["retention"] = policy
            repo_q.set_options(conn, key, options)
            if policy is not None and policy.get("schedule"):
                # setting or changing a scheduled policy starts its clock: the first run is
                # one interval later, never at once
                cleanup_q.start_clock(conn, record.id, datetime.now(UTC).timestamp())
            action = "repository.retention_updated" if policy else "repository.retention_deleted"
            self._audit.record(conn, actor, action, key, policy)
        self._names.repositories()
        return self._with_next_run(record.id, policy) if policy else {}

    # --- schedules -----------------------------------------------------------------------

    def run_scheduled(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Plan and apply the policy of every local repository whose ``schedule`` is due
        (its last run, or when the policy was set, stored in the database, is at least
        ``schedule`` ago; a policy without that record, from the config file, starts its
        clock at this call). Safe to call from any process at any time: one caller wins each
        due run."""
        now = now or datetime.now(UTC)
        results: list[dict[str, Any]] = []
        for record in self._names.repositories():
            data = record.options.get("retention")
            if record.kind != "local" or not data:
                continue
            try:
                policy = parse_policy(data)
            except InvalidRequest as exc:
                log.warning("retention policy invalid", repository=record.key, error=exc.message)
                continue
            if policy.schedule is None:
                continue
            with self._db.transaction() as conn:
                previous = cleanup_q.last_run(conn, record.id)
                if previous is None:
                    # a policy from the config file, first seen now: its clock starts here
                    cleanup_q.claim_run(conn, record.id, None, now.timestamp())
                    continue
                due = previous + policy.schedule.total_seconds() <= now.timestamp()
                if not due or not cleanup_q.claim_run(conn, record.id, previous, now.timestamp()):
                    continue
            results.append(self._run(record, now))
        return results

    def _run(self, record: RepositoryRecord, now: datetime) -> dict[str, Any]:
        actor = Actor(SCHEDULER)
        try:
            plan = self._cleanup.plan(actor, record.key, None, now)
            outcome: dict[str, Any] = {"repository": record.key, "plan_id": plan["id"]}
            if plan["count"]:
                result = self._cleanup.apply(actor, plan["id"], now)
                outcome |= {
                    "applied": len(result["applied"]),
                    "refused": len(result["refused"]),
                    "bytes_freed": result["bytes_freed"],
                }
            else:
                outcome |= {"applied": 0, "refused": plan["refused_count"], "bytes_freed": 0}
        except TidegateError as exc:
            log.warning("scheduled retention failed", repository=record.key, error=exc.message)
            outcome = {"repository": record.key, "error": exc.message}
        with self._db.transaction() as conn:
            cleanup_q.record_run(conn, record.id, outcome.get("plan_id"), outcome)
        return outcome

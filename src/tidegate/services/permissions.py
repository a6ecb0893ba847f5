"""Permission targets: which repositories and images, and which actions for whom.

A target names repositories (keys or globs), optional image include/exclude globs, and grants
per user or service account, per group, and for anonymous. Anonymous may be granted ``read``
and nothing else: anonymous write access is refused here, in the config check and at start.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection

from tidegate.auth.identity import IdentityState
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import ALL_ACTIONS, Action, Principal
from tidegate.db import Database
from tidegate.db import access as access_q
from tidegate.db import users as user_q
from tidegate.db.records import GrantRecord, TargetRecord
from tidegate.errors import Conflict, InvalidRequest, NotFound
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.identity import validate_name

_REPO_PATTERN_RE = re.compile(r"[a-z0-9._*?-]{1,64}")
_IMAGE_PATTERN_RE = re.compile(r"[a-z0-9._/*?-]{1,255}")
ANONYMOUS_ALLOWED = frozenset({Action.READ})


@dataclass(frozen=True, slots=True)
class TargetView:
    name: str
    repositories: list[str]
    include: list[str] = field(default_factory=lambda: ["**"])
    exclude: list[str] = field(default_factory=list)
    users: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    anonymous: list[str] = field(default_factory=list)


def _actions(actions: list[str], who: str) -> list[str]:
    known = {a.value for a in ALL_ACTIONS}
    unknown = [a for a in actions if a not in known]
    if unknown:
        raise InvalidRequest(
            f"unknown action(s) {', '.join(map(repr, unknown))} for {who}; actions are "
            + ", ".join(a.value for a in ALL_ACTIONS)
        )
    return [a.value for a in ALL_ACTIONS if a.value in actions]  # canonical order, no repeats


def anonymous_write_error(actions: list[str]) -> str | None:
    """The refusal message when anonymous would get more than read, else None."""
    extra = [a for a in actions if a not in ANONYMOUS_ALLOWED]
    if not extra:
        return None
    return (
        f"anonymous may only be granted read; {', '.join(extra)} would let anyone without"
        " credentials change the registry"
    )


def validate_target(view: TargetView) -> TargetView:
    validate_name(view.name, "permission target")
    if not view.repositories:
        raise InvalidRequest("a permission target needs at least one repository (or a glob)")
    for pattern in view.repositories:
        if not _REPO_PATTERN_RE.fullmatch(pattern):
            raise InvalidRequest(f"repository pattern {pattern[:80]!r} is not valid")
    if not view.include:
        raise InvalidRequest('include needs at least one image pattern (use ["**"] for all)')
    for pattern in view.include + view.exclude:
        if not _IMAGE_PATTERN_RE.fullmatch(pattern):
            raise InvalidRequest(f"image pattern {pattern[:80]!r} is not valid")
    anonymous = _actions(view.anonymous, "anonymous")
    problem = anonymous_write_error(anonymous)
    if problem:
        raise InvalidRequest(problem)
    return TargetView(
        view.name,
        list(dict.fromkeys(view.repositories)),
        list(dict.fromkeys(view.include)),
        list(dict.fromkeys(view.exclude)),
        {k: _actions(v, f"user {k!r}") for k, v in view.users.items()},
        {k: _actions(v, f"group {k!r}") for k, v in view.groups.items()},
        anonymous,
    )


def write_target(conn: Connection, view: TargetView, target_id: int | None = None) -> int:
    """Create (or replace, with ``target_id``) a validated target and its grants."""
    now = datetime.now(UTC)
    grants: list[GrantRecord] = []
    unknown: list[str] = []
    for name, actions in view.users.items():
        user = user_q.get_by_username(conn, name)
        if user is None:
            unknown.append(f"user {name!r}")
        elif actions:
            grants.append(GrantRecord(0, user.id, None, tuple(actions)))
    for name, actions in view.groups.items():
        group = user_q.get_group(conn, name)
        if group is None:
            unknown.append(f"group {name!r}")
        elif actions:
            grants.append(GrantRecord(0, None, group.id, tuple(actions)))
    if unknown:
        raise InvalidRequest(f"unknown principal(s): {', '.join(unknown)}")
    if view.anonymous:
        grants.append(GrantRecord(0, None, None, tuple(view.anonymous)))
    if target_id is None:
        target_id = access_q.create_target(
            conn, view.name, view.repositories, view.include, view.exclude, now
        )
    else:
        access_q.update_target(conn, target_id, view.repositories, view.include, view.exclude, now)
    access_q.replace_grants(conn, target_id, grants)
    return target_id


def anonymous_write_grants(conn: Connection) -> list[str]:
    """Targets (by name) that grant anonymous more than read: refused at start."""
    names = {t.id: t.name for t in access_q.list_targets(conn)}
    return sorted(
        names[g.target_id]
        for g in access_q.list_grants(conn)
        if g.user_id is None and g.group_id is None and anonymous_write_error(list(g.actions))
    )


class PermissionTargetService:
    def __init__(
        self,
        db: Database,
        state: IdentityState,
        evaluator: PermissionEvaluator,
        audit: AuditLog,
    ) -> None:
        self._db = db
        self._state = state
        self._evaluator = evaluator
        self._audit = audit

    def _views(self, conn: Connection, targets: list[TargetRecord]) -> list[TargetView]:
        users = {u.id: u.username for u in user_q.list_users(conn)}
        groups = {g.id: g.name for g in user_q.list_groups(conn)}
        grants = access_q.list_grants(conn)
        views = []
        for t in targets:
            view = TargetView(t.name, list(t.repositories), list(t.include), list(t.exclude))
            for g in grants:
                if g.target_id != t.id:
                    continue
                if g.user_id is not None:
                    view.users[users[g.user_id]] = list(g.actions)
                elif g.group_id is not None:
                    view.groups[groups[g.group_id]] = list(g.actions)
                else:
                    view.anonymous.extend(a for a in g.actions if a not in view.anonymous)
            views.append(view)
        return views

    def list_all(self) -> list[TargetView]:
        with self._db.read() as conn:
            return self._views(conn, access_q.list_targets(conn))

    def get(self, name: str) -> TargetView:
        with self._db.read() as conn:
            target = access_q.get_target(conn, name)
            if target is None:
                raise NotFound(f"no permission target named {name!r}")
            return self._views(conn, [target])[0]

    def create(self, actor: Actor, view: TargetView) -> TargetView:
        view = validate_target(view)
        with self._db.transaction() as conn:
            if access_q.get_target(conn, view.name) is not None:
                raise Conflict(f"a permission target named {view.name!r} already exists")
            write_target(conn, view)
            access_q.bump_auth_generation(conn)
            self._audit.record(conn, actor, "permission.created", view.name, _detail(view))
        self._state.invalidate()
        return self.get(view.name)

    def replace(self, actor: Actor, name: str, view: TargetView) -> TargetView:
        if view.name != name:
            raise InvalidRequest(f"the body names target {view.name!r}, the URL {name!r}")
        view = validate_target(view)
        with self._db.transaction() as conn:
            target = access_q.get_target(conn, name)
            if target is None:
                raise NotFound(f"no permission target named {name!r}")
            write_target(conn, view, target.id)
            access_q.bump_auth_generation(conn)
            self._audit.record(conn, actor, "permission.updated", name, _detail(view))
        self._state.invalidate()
        return self.get(name)

    def delete(self, actor: Actor, name: str) -> None:
        with self._db.transaction() as conn:
            target = access_q.get_target(conn, name)
            if target is None:
                raise NotFound(f"no permission target named {name!r}")
            access_q.delete_target(conn, target.id)
            access_q.bump_auth_generation(conn)
            self._audit.record(conn, actor, "permission.deleted", name)
        self._state.invalidate()

    def effective(self, principal: Principal, repository: str, image: str) -> list[str]:
        """The actions ``principal`` holds on ``image`` in ``repository``, in canonical order."""
        held = self._evaluator.actions(principal, repository, image)
        return [a.value for a in ALL_ACTIONS if a in held]


def _detail(view: TargetView) -> dict[str, object]:
    """What the audit event records of a target: everything but its name (the target)."""
    return {k: v for k, v in asdict(view).items() if k != "name"}

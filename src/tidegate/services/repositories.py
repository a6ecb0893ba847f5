"""Repositories as the management API shows them: create, configure, delete; their gates;
and the explanation of a virtual repository's resolution.

Owns: the options each kind takes and their validation (key grammar, kind-specific fields
only, members exist, ``default_deploy`` is a local member, no cycles of virtual repositories,
http(s) upstreams), the rules for deleting (never a member of a virtual, never the
``default_repository``, a local repository holding images only with ``force``), and the audit
of every change (in the change's transaction). Options are stored on the repository row
(``options``); a remote's upstream password is kept apart (``repository_secrets``) and never
returned. After a change this process reloads its cached repository rows at once; other
processes within a second (``NameResolver``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action
from tidegate.config import MAX_TTL, parse_size, upstream_url_problem, virtual_cycle
from tidegate.db import Database
from tidegate.db import remote as remote_q
from tidegate.db import repositories as repo_q
from tidegate.db.records import RepositoryRecord
from tidegate.errors import Conflict, Denied, InvalidRequest, NotFound
from tidegate.oci.digest import Digest, is_digest
from tidegate.oci.names import REPOSITORY_KEY_MAX, REPOSITORY_KEY_RE, validate_tag
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.content import ContentRouter
from tidegate.services.gates import parse_gate
from tidegate.services.names import NameResolver
from tidegate.services.virtual import MemberOutcome, VirtualContent

KINDS = ("local", "remote", "virtual")
# the options each kind takes (PRODUCT.md §2, §9); anything else is refused by name
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "local": ("allow_push", "immutable_tags", "protected", "quota", "gate", "allow_sparse"),
    "remote": (
        "upstream",
        "upstream_username",
        "upstream_password",
        "library_prefix",
        "tag_ttl",
        "offline",
        "negative_ttl",
        "upstream_timeout",
        "allow_sparse",
    ),
    "virtual": ("members", "default_deploy"),
}
_BOOLS = {"allow_push", "immutable_tags", "protected", "allow_sparse", "library_prefix", "offline"}
_COUNTS = {"quota", "tag_ttl", "negative_ttl"}
_SECONDS = {"upstream_timeout"}
_STRINGS = {"upstream", "upstream_username", "upstream_password", "default_deploy"}
SECRET = "upstream_password"

STAGE_PREFIX = "stage:"


@dataclass(frozen=True, slots=True)
class RepositoryView:
    key: str
    kind: str
    stage: str | None
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResolveView:
    repository: str
    image: str
    reference: str
    served_by: str | None
    digest: str | None
    members: list[MemberOutcome] = field(default_factory=list)


def _view(record: RepositoryRecord) -> RepositoryView:
    options = {k: v for k, v in record.options.items() if k != SECRET}
    return RepositoryView(record.key, record.kind, record.stage, options)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or len(key) > REPOSITORY_KEY_MAX:
        raise InvalidRequest(f"invalid repository key {key!r}: at most 64 characters")
    if not REPOSITORY_KEY_RE.fullmatch(key):
        raise InvalidRequest(
            f"invalid repository key {key!r}: lower-case letters and digits separated by '.',"
            " '_' or '-' (e.g. team-a)"
        )
    return key


def _check_stage(stage: object) -> str | None:
    if stage is None:
        return None
    if not isinstance(stage, str) or not REPOSITORY_KEY_RE.fullmatch(stage) or len(stage) > 64:
        raise InvalidRequest(f"invalid stage {stage!r}: one lower-case word, e.g. dev or prod")
    return stage


def _sizes(values: dict[str, Any]) -> dict[str, Any]:
    """``quota`` given as ``"10GiB"`` (or bytes) becomes bytes."""
    quota = values.get("quota")
    if quota is not None and not isinstance(quota, bool):
        try:
            values["quota"] = parse_size(quota)
        except ValueError as exc:
            raise InvalidRequest(f"quota: {exc}") from None
    return values


def _check_values(key: str, kind: str, values: Mapping[str, Any]) -> None:
    """Types and ranges of the given options; fields of another kind are refused by name."""
    foreign = sorted(set(values) - set(KIND_FIELDS[kind]))
    if foreign:
        raise InvalidRequest(
            f"{', '.join(foreign)} {'is not an option' if len(foreign) == 1 else 'are not options'}"
            f" of a {kind} repository ({key!r}); a {kind} repository takes"
            f" {', '.join(KIND_FIELDS[kind])}"
        )
    for name, value in values.items():
        if value is None:
            continue
        if name in _BOOLS and not isinstance(value, bool):
            raise InvalidRequest(f"{name} must be true or false")
        if name in _COUNTS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidRequest(f"{name} must be a whole number, 0 or more")
        if name in ("tag_ttl", "negative_ttl") and value > MAX_TTL:
            raise InvalidRequest(f"{name}: at most {MAX_TTL} seconds (10 years)")
        if name in _SECONDS and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600
        ):
            raise InvalidRequest(f"{name} must be a number of seconds above 0 and at most 600")
        if name in _STRINGS and not isinstance(value, str):
            raise InvalidRequest(f"{name} must be a string")
    upstream = values.get("upstream")
    if upstream is not None:
        problem = upstream_url_problem(str(upstream))
        if problem:
            raise InvalidRequest(f"the upstream of {key!r} {problem}")
    members = values.get("members")
    if members is not None:
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InvalidRequest("members must be a list of repository keys")
        duplicates = sorted({m for m in members if members.count(m) > 1})
        if duplicates:
            raise InvalidRequest(f"members of {key!r} list {', '.join(duplicates)} twice")


class RepositoryService:
    def __init__(
        self,
        db: Database,
        names: NameResolver,
        evaluator: PermissionEvaluator,
        audit: AuditLog,
        content: ContentRouter | None = None,
    ) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator
        self._audit = audit
        self._content = content

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
        if not self._evaluator.allowed_everywhere(actor.principal, key, Action.MANAGE):
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

    # --- management ----------------------------------------------------------------------
    def create(self, actor: Actor, spec: Mapping[str, Any]) -> RepositoryView:
        """A new repository: ``key``, ``kind``, ``stage`` and the kind's options (admin)."""
        self._require_admin(actor, "create repositories")
        key = _check_key(spec.get("key"))
        kind = spec.get("kind")
        if kind not in KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        stage = _check_stage(spec.get("stage"))
        values = _sizes({k: v for k, v in spec.items() if k not in ("key", "kind", "stage")})
        _check_values(key, kind, values)
        if kind == "remote" and not values.get("upstream"):
            raise InvalidRequest(f"remote repository {key!r} needs an upstream URL")
        password = values.pop(SECRET, None)
        options = {k: v for k, v in values.items() if v is not None}
        with self._db.transaction() as conn:
            if repo_q.get_by_key(conn, key) is not None:
                raise Conflict(f"repository {key!r} already exists")
            records = {r.key: r for r in repo_q.list_all(conn)}
            self._check_relations(key, kind, options, records)
            record = repo_q.create(conn, key, kind, stage, options)
            if password is not None:
                repo_q.set_upstream_password(conn, key, str(password))
            view = _view(record)
            self._audit.record(conn, actor, "repository.created", key, _audited(view, password))
        self._names.repositories()
        return view

    def update(self, actor: Actor, key: str, changes: Mapping[str, Any]) -> RepositoryView:
        """Change ``stage`` and options of ``key`` (admin, or ``manage`` on it). A given
        ``null`` removes an option (back to its default); ``key`` and ``kind`` never change."""
        if not actor.principal.is_admin and not self._evaluator.allowed_everywhere(
            actor.principal, key, Action.MANAGE
        ):
            raise Denied(f"{actor.name} may not change repository {key!r}: that needs manage")
        fixed = sorted({"key", "kind"} & set(changes))
        if fixed:
            raise InvalidRequest(
                f"{' and '.join(fixed)} cannot change: delete the repository and create it anew"
            )
        with self._db.transaction() as conn:
            record = repo_q.get_by_key(conn, key)
            if record is None:
                raise NotFound(f"no repository {key!r}")
            values = _sizes({k: v for k, v in changes.items() if k != "stage"})
            _check_values(key, record.kind, values)
            stage = _check_stage(changes["stage"]) if "stage" in changes else record.stage
            has_password = SECRET in values
            password = values.pop(SECRET, None)
            options = {**record.options, **values}
            options = {k: v for k, v in options.items() if v is not None}
            if record.kind == "remote" and not options.get("upstream"):
                raise InvalidRequest(f"remote repository {key!r} needs an upstream URL")
            records = {r.key: r for r in repo_q.list_all(conn)}
            self._check_relations(key, record.kind, options, records)
            repo_q.update_row(conn, key, stage, options)
            if has_password:
                repo_q.set_upstream_password(conn, key, None if password is None else str(password))
                fresh = repo_q.get_by_key(conn, key)
                options = fresh.options if fresh is not None else options  # the new stamp
            if record.kind == "remote":  # what the old settings could not find may exist now
                remote_q.forget_negatives(conn, record.id)
            view = RepositoryView(key, record.kind, stage, options)
            detail = {"changed": sorted(changes), **asdict_view(view)}
            if has_password:
                detail["upstream_password"] = "changed" if password is not None else "removed"
            self._audit.record(conn, actor, "repository.updated", key, detail)
        self._names.repositories()
        return view

    def delete(self, actor: Actor, key: str, force: bool = False) -> None:
        """Delete ``key`` (admin). Refused (409) while a virtual repository lists it or it is
        the ``default_repository``; a local repository that holds images needs ``force``."""
        self._require_admin(actor, "delete repositories")
        with self._db.transaction() as conn:
            record = repo_q.get_by_key(conn, key)
            if record is None:
                raise NotFound(f"no repository {key!r}")
            if key == self._names.default_repository:
                raise Conflict(
                    f"repository {key!r} is the default_repository (names without a repository"
                    " key go there): change default_repository first"
                )
            users = [
                r.key
                for r in repo_q.list_all(conn)
                if r.kind == "virtual" and key in (r.options.get("members") or [])
            ]
            if users:
                raise Conflict(
                    f"repository {key!r} is a member of virtual repository(ies)"
                    f" {', '.join(users)}: remove it from their members first"
                )
            holds = record.kind == "local" and repo_q.holds_images(conn, record.id)
            if holds and not force:
                raise Conflict(
                    f"repository {key!r} holds images: delete them first, or delete it with"
                    " force=true (its manifests and tags go with it)"
                )
            repo_q.delete_row(conn, key)
            self._audit.record(
                conn, actor, "repository.deleted", key, {"kind": record.kind, "forced": holds}
            )
        self._names.repositories()

    def _require_admin(self, actor: Actor, what: str) -> None:
        if not actor.principal.is_admin:
            raise Denied(f"{actor.name} may not {what}: admins only")

    def _check_relations(
        self,
        key: str,
        kind: str,
        options: Mapping[str, Any],
        records: Mapping[str, RepositoryRecord],
    ) -> None:
        """Members exist, ``default_deploy`` is a local member, and no cycle appears; a
        gate's sources exist."""
        if options.get("gate") is not None:
            gate = options["gate"]
            if not isinstance(gate, Mapping):
                raise InvalidRequest("gate must be an object {from: [...], require: [...]}")
            parsed = parse_gate(gate)
            unknown = [
                s for s in parsed.sources if not s.startswith(STAGE_PREFIX) and s not in records
            ]
            if unknown:
                raise InvalidRequest(
                    f"gate of {key!r}: unknown source repository(ies) {', '.join(unknown)}"
                )
        if kind != "virtual":
            return
        members = list(options.get("members") or [])
        missing = [m for m in members if m not in records and m != key]
        if missing:
            raise InvalidRequest(
                f"members of {key!r}: no repository {', '.join(repr(m) for m in missing)}"
            )
        target = options.get("default_deploy")
        if target is not None:
            if target not in members:
                raise InvalidRequest(
                    f"default_deploy {target!r} of {key!r} is not one of its members"
                    f" ({', '.join(members) or 'none'})"
                )
            if records[target].kind != "local":
                raise InvalidRequest(
                    f"default_deploy {target!r} of {key!r} is a {records[target].kind}"
                    " repository: pushes through a virtual repository land in a local member"
                )
        graph = {
            r.key: list(r.options.get("members") or [])
            for r in records.values()
            if r.kind == "virtual"
        }
        graph[key] = members
        cycle = virtual_cycle(graph)
        if cycle:
            raise InvalidRequest(f"virtual repositories would form a cycle: {' -> '.join(cycle)}")

    # --- the resolve API -----------------------------------------------------------------
    async def resolve(self, actor: Actor, key: str, image: str, reference: str) -> ResolveView:
        """Which member of the virtual ``key`` serves ``image:reference`` for the caller, and
        what each member answered. Needs ``read`` on the virtual (and shows members the caller
        may not read as skipped, without asking them)."""
        if is_digest(reference):
            Digest.parse(reference)
        else:
            validate_tag(reference)
        ref = self._names.image_in(key, image)
        if not self._evaluator.allowed(actor.principal, key, image, Action.READ):
            raise Denied(f"{actor.name} may not read {key}/{image}")
        content = self._content.of(ref) if self._content is not None else None
        if not isinstance(content, VirtualContent):
            raise InvalidRequest(
                f"repository {key!r} is a {ref.repository.kind} repository; resolve explains"
                " virtual repositories"
            )
        outcomes = await content.explain(actor.principal, ref, reference)
        served = next((o for o in outcomes if o.outcome == "served"), None)
        return ResolveView(
            key,
            image,
            reference,
            served.member if served else None,
            served.digest if served else None,
            outcomes,
        )


def asdict_view(view: RepositoryView) -> dict[str, Any]:
    return {"key": view.key, "kind": view.kind, "stage": view.stage, "options": view.options}


def _audited(view: RepositoryView, password: object) -> dict[str, Any]:
    detail = asdict_view(view)
    if password is not None:
        detail["upstream_password"] = "set"  # never the value
    return detail

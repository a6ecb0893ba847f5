"""Promotion: copy or move an image, with its whole closure, from one repository to another.

Owns: the promotion use case of docs/promotion.md — checking the request and the caller's
permissions (``read`` on the source, ``promote`` on the target, ``delete`` on the source for a
move, ``overwrite`` to move a target tag; immutable target tags refused), evaluating the
target's gate inside the transaction, copying the closure's rows (``services.closure``; never
bytes) with their properties, setting system properties, and writing the promotion record, its
audit row and its event in the same transaction. A refused promotion rolls back and is then
recorded (record, audit, event) in its own transaction. Also the lineage query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import content as content_q
from tidegate.db import gc as gc_q
from tidegate.db import promotions as promotion_q
from tidegate.db import properties as props_q
from tidegate.db import repositories as repo_q
from tidegate.db.records import ManifestRecord, RepositoryRecord
from tidegate.errors import Conflict, Denied, GateRefused, InvalidRequest, NotFound
from tidegate.oci.digest import Digest
from tidegate.oci.names import validate_tag
from tidegate.services import quotas
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.closure import Closure, walk
from tidegate.services.gates import evaluate, failed, parse_gate
from tidegate.services.metrics import Metrics
from tidegate.services.names import ImageRef, NameResolver
from tidegate.services.properties import (
    Values,
    check_total,
    find_manifest,
    now_iso,
    validate_values,
)

MODES = ("copy", "move")
MAX_LINEAGE = 1000


@dataclass(frozen=True, slots=True)
class PromotionRequest:
    source: str
    target: str
    image: str
    tag: str | None = None
    digest: str | None = None
    target_image: str | None = None
    target_tag: str | None = None
    mode: str = "copy"
    properties: Mapping[str, list[str]] = field(default_factory=dict)
    include_referrers: bool = True
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class PromotionRecord:
    id: int | None
    created_at: datetime
    actor: str
    source: str
    image: str
    target: str
    target_image: str
    digest: str
    tag: str | None
    target_tag: str | None
    mode: str
    properties: Values
    evaluation: dict[str, Any]
    outcome: str  # "promoted" | "refused"
    manifests: int
    blobs: int
    referrers: int
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class GatePreview:
    source: str
    image: str
    reference: str
    digest: str
    target: str
    evaluation: dict[str, Any]


class _Refused(Exception):
    def __init__(self, record: PromotionRecord, root: ManifestRecord) -> None:
        self.record = record
        self.root = root


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _validated(req: PromotionRequest) -> PromotionRequest:
    if req.tag is None and req.digest is None:
        raise InvalidRequest(
            "give a tag or a digest (or both: the tag, which must still name that digest)"
        )
    if req.mode not in MODES:
        raise InvalidRequest(f"mode must be copy or move, not {req.mode!r}")
    tag = validate_tag(req.tag) if req.tag is not None else None
    digest = str(Digest.parse(req.digest)) if req.digest is not None else None
    target_tag = req.target_tag if req.target_tag is not None else tag
    if target_tag is not None:
        validate_tag(target_tag)
    return PromotionRequest(
        req.source,
        req.target,
        req.image,
        tag,
        digest,
        req.target_image or req.image,
        target_tag,
        req.mode,
        validate_values(req.properties),
        req.include_referrers,
        req.dry_run,
    )


class PromotionService:
    def __init__(
        self,
        db: Database,
        names: NameResolver,
        evaluator: PermissionEvaluator,
        audit: AuditLog,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator
        self._audit = audit
        self._metrics = metrics

    # --- promote -------------------------------------------------------------------------

    def promote(self, actor: Actor, request: PromotionRequest) -> PromotionRecord:
        """The record written (or, for a dry run, that would be written). Raises
        ``GateRefused`` (after recording the refusal), ``Denied``, ``NotFound``, ``Conflict``,
        ``InvalidRequest``."""
        req = _validated(request)
        assert req.target_image is not None
        src = self._names.image_in(req.source, req.image)
        dst = self._names.image_in(req.target, req.target_image)
        src.require_local()  # remote caches and virtual addresses hold nothing to promote
        dst.require_local()
        self._authorize(actor.principal, src, dst, req)
        try:
            if req.dry_run:
                with self._db.read() as conn:
                    return self._promote(conn, actor, req, src, dst)
            with quotas.reported(self._db), self._db.transaction() as conn:
                done = self._promote(conn, actor, req, src, dst)
            if self._metrics is not None:
                self._metrics.promotions.labels(dst.repository.key, "promoted").inc()
            return done
        except _Refused as refused:
            record, root = refused.record, refused.root
        with self._db.transaction() as conn:
            record = self._write(conn, actor, record, root)
        if self._metrics is not None:
            self._metrics.promotions.labels(dst.repository.key, "refused").inc()
        raise GateRefused(
            f"the gate of {record.target!r} refused {src.name}@{record.digest}: "
            + "; ".join(f"{f['condition']}: {f['reason']}" for f in failed(record.evaluation)),
            failed(record.evaluation),
            record.evaluation,
        )

    def _authorize(
        self, principal: Principal, src: ImageRef, dst: ImageRef, req: PromotionRequest
    ) -> None:
        needs = [(src, Action.READ), (dst, Action.PROMOTE)]
        if req.mode == "move":
            needs.append((src, Action.DELETE))
        for ref, action in needs:
            if not self._evaluator.allowed(principal, ref.repository.key, ref.image, action):
                raise Denied(
                    f"{principal.name} may not promote {src.name} to {dst.name}: that needs"
                    f" {action.value} on {ref.name}"
                )
        same_place = src.repository_id == dst.repository_id and src.image == dst.image
        if same_place and (req.mode == "move" or req.target_tag == req.tag):
            raise InvalidRequest(f"the promotion would put {src.name} onto itself")

    def _promote(
        self, conn: Connection, actor: Actor, req: PromotionRequest, src: ImageRef, dst: ImageRef
    ) -> PromotionRecord:
        if not req.dry_run:
            promotion_q.lock_repository(conn, dst.repository_id)
        target_repo = repo_q.get_by_key(conn, dst.repository.key)
        source_repo = repo_q.get_by_key(conn, src.repository.key)
        if target_repo is None or source_repo is None:
            raise NotFound("the repository was deleted meanwhile")
        root = find_manifest(conn, src, req.tag or req.digest or "")
        if req.tag is not None and req.digest is not None and root.digest != req.digest:
            # the caller checked one image and the tag was pushed again since: promote nothing
            raise Conflict(
                f"tag {req.tag!r} of {src.name} now names {root.digest}, not {req.digest};"
                " nothing was promoted",
                detail={"tag": req.tag, "digest": root.digest, "expected": req.digest},
            )
        closure = walk(conn, src, root, req.include_referrers)
        if not req.dry_run:  # a GC sweeping any of these runs wholly before or after
            gc_q.lock_digests(conn, [*closure.blobs, *closure.manifests])
        linked = content_q.linked_blobs(conn, src.repository_id, src.image, closure.blobs)
        if closure.blobs - linked and not target_repo.options.get("allow_sparse", False):
            absent = sorted(closure.blobs - linked)
            raise Conflict(
                f"{src.name} does not hold blob(s) {', '.join(absent[:10])} of"
                f" {root.digest}; nothing was promoted",
                detail={"missing": absent},
            )
        self._check_target_tag(conn, actor.principal, dst, target_repo, req, root.digest)
        if req.mode == "move":
            self._check_move(conn, actor.principal, src, source_repo, req, root.digest)
        seen = dict(closure.properties.get(root.digest, {}))
        for key, values in req.properties.items():
            seen[key] = list(dict.fromkeys([*seen.get(key, []), *values]))
        gate = parse_gate(target_repo.options.get("gate"))
        evaluation = evaluate(
            gate, source_repo.key, source_repo.stage, seen, closure.referrer_types
        )
        record = PromotionRecord(
            id=None,
            created_at=datetime.now(UTC),
            actor=actor.name,
            source=src.repository.key,
            image=src.image,
            target=dst.repository.key,
            target_image=dst.image,
            digest=root.digest,
            tag=req.tag,
            target_tag=req.target_tag,
            mode=req.mode,
            properties=dict(req.properties),
            evaluation=evaluation,
            outcome="promoted" if evaluation["passed"] else "refused",
            manifests=len(closure.manifests),
            blobs=len(linked),
            referrers=len(closure.referrers),
            dry_run=req.dry_run,
        )
        if req.dry_run:
            return record
        if not evaluation["passed"]:
            raise _Refused(record, root)  # rolls back; recorded in its own transaction
        arriving = set(closure.manifests) - content_q.existing_manifests(
            conn, dst.repository_id, dst.image, closure.manifests
        )
        quotas.check(
            conn,
            dst,
            gc_q.blob_sizes(conn, linked),
            sum(closure.manifests[d].size for d in arriving),
            what=f"promoting {src.name}@{root.digest}",
        )
        self._copy(conn, actor, req, src, dst, closure, linked)
        if req.mode == "move":
            self._remove_source(conn, src, req, closure)
        return self._write(conn, actor, record, root)

    def _check_target_tag(
        self,
        conn: Connection,
        principal: Principal,
        dst: ImageRef,
        target_repo: RepositoryRecord,
        req: PromotionRequest,
        digest: str,
    ) -> None:
        if req.target_tag is None:
            return
        current = content_q.tag_digest(conn, dst.repository_id, dst.image, req.target_tag)
        if current is None or current == digest or principal.is_admin:
            return
        if target_repo.options.get("immutable_tags", False):
            raise Denied(
                f"tag {req.target_tag!r} of {dst.name} already names {current}, and tags in"
                f" {dst.repository.key!r} are immutable"
            )
        if not self._evaluator.allowed(principal, dst.repository.key, dst.image, Action.OVERWRITE):
            raise Denied(
                f"tag {req.target_tag!r} of {dst.name} already names {current}; moving it needs"
                f" the overwrite permission on {dst.name}"
            )

    def _check_move(
        self,
        conn: Connection,
        principal: Principal,
        src: ImageRef,
        source_repo: RepositoryRecord,
        req: PromotionRequest,
        digest: str,
    ) -> None:
        immutable = source_repo.options.get("immutable_tags", False) and not principal.is_admin
        if req.tag is not None:
            if immutable:
                raise Denied(f"tag {req.tag!r} in {src.repository.key!r} is immutable")
            return
        if immutable and content_q.list_tags_for(conn, src.repository_id, src.image, digest):
            raise Denied(f"{digest} is tagged in {src.repository.key!r}, whose tags are immutable")
        parents = content_q.referencing_manifests(
            conn, src.repository_id, src.image, digest, "manifest"
        )
        if parents:
            raise Conflict(
                f"{digest} is listed by index(es) {', '.join(parents)} in {src.name}; a move"
                " would leave them incomplete"
            )

    def _copy(
        self,
        conn: Connection,
        actor: Actor,
        req: PromotionRequest,
        src: ImageRef,
        dst: ImageRef,
        closure: Closure,
        linked: set[str],
    ) -> None:
        for blob in sorted(linked):
            content_q.link_blob(conn, dst.repository_id, dst.image, blob)
        ids: dict[str, int] = {}
        for digest, m in closure.manifests.items():
            content = content_q.manifest_content(conn, digest)
            assert content is not None
            refs = closure.refs[digest]
            content_q.put_manifest(
                conn,
                repository_id=dst.repository_id,
                image=dst.image,
                digest=digest,
                content=content,
                media_type=m.media_type,
                artifact_type=m.artifact_type,
                subject=m.subject,
                annotations=m.annotations,
                pushed_by=closure.pushed_by.get(digest),  # the pusher, not the promoter
                blob_refs=[d for d, kind in refs if kind == "blob"],
                manifest_refs=[d for d, kind in refs if kind == "manifest"],
            )
            arrived = content_q.get_manifest(conn, dst.repository_id, dst.image, digest)
            assert arrived is not None
            ids[digest] = arrived.id
            if closure.properties.get(digest):
                props_q.set_keys(conn, arrived.id, closure.properties[digest])
        root = next(iter(closure.manifests))
        root_id = ids[root]
        if req.properties:
            current = props_q.get(conn, root_id)
            props_q.set_keys(
                conn,
                root_id,
                {k: [*current.get(k, []), *v] for k, v in req.properties.items()},
            )
        props_q.set_keys(
            conn,
            root_id,
            {
                "tidegate.promoted_from": [f"{src.name}@{root}"],
                "tidegate.promoted_by": [actor.name],
                "tidegate.promoted_at": [now_iso()],
            },
        )
        check_total(conn, root_id, f"{dst.name}@{root}")
        if req.target_tag is not None:
            content_q.set_tag(conn, dst.repository_id, dst.image, req.target_tag, root)

    def _remove_source(
        self, conn: Connection, src: ImageRef, req: PromotionRequest, closure: Closure
    ) -> None:
        if req.tag is not None:
            content_q.delete_tag(conn, src.repository_id, src.image, req.tag)
            return
        for digest in closure.referrers:
            content_q.delete_manifest(conn, src.repository_id, src.image, digest)
        content_q.delete_manifest(conn, src.repository_id, src.image, next(iter(closure.manifests)))

    def _write(
        self, conn: Connection, actor: Actor, record: PromotionRecord, root: ManifestRecord
    ) -> PromotionRecord:
        """The record, its event and its audit row, in ``conn``'s transaction."""
        promoted = record.outcome == "promoted"
        new_id = promotion_q.record(
            conn,
            {
                "created_at": record.created_at,
                "actor": record.actor,
                "source": record.source,
                "image": record.image,
                "target": record.target,
                "target_image": record.target_image,
                "digest": record.digest,
                "tag": record.tag,
                "target_tag": record.target_tag,
                "mode": record.mode,
                "outcome": record.outcome,
                "evaluation": record.evaluation,
                "properties": record.properties,
                "counts": {
                    "manifests": record.manifests,
                    "blobs": record.blobs,
                    "referrers": record.referrers,
                },
            },
        )
        where = f"{record.target}/{record.target_image}"
        subject = (
            f"{where}:{record.target_tag}" if record.target_tag else f"{where}@{record.digest}"
        )
        data = {
            "repository": record.target,
            "image": record.target_image,
            "tag": record.target_tag,
            "digest": record.digest,
            "media_type": root.media_type,
            "size": root.size,
            "actor": record.actor,
            "source": f"{record.source}/{record.image}",
            "target": where,
            "mode": record.mode,
            "promotion": new_id,
            "evaluation": record.evaluation,
        }
        promotion_q.publish(
            conn, "image.promoted" if promoted else "promotion.refused", subject, data
        )
        detail = {
            "source": f"{record.source}/{record.image}",
            "digest": record.digest,
            "id": new_id,
        }
        reason = None if promoted else "; ".join(f["reason"] for f in failed(record.evaluation))
        self._audit.record(
            conn,
            actor,
            "image.promoted" if promoted else "promotion.refused",
            subject,
            detail,
            refused=reason,
        )
        return PromotionRecord(**{**_fields(record), "id": new_id})

    # --- lineage -------------------------------------------------------------------------

    def lineage(
        self,
        principal: Principal,
        digest: str | None = None,
        repo: str | None = None,
        image: str | None = None,
        limit: int = 100,
    ) -> list[PromotionRecord]:
        """Every promotion (promoted or refused) matching the filters, oldest first, that the
        caller may read the source or the target of."""
        if digest is not None:
            digest = str(Digest.parse(digest))
        limit = max(1, min(limit, MAX_LINEAGE))
        with self._db.read() as conn:
            rows = promotion_q.lineage(conn, digest, repo, image, limit)
        records = [_record_of(row) for row in rows]
        return [r for r in records if self._may_see(principal, r)]

    def preview(
        self, principal: Principal, source: str, image: str, reference: str, target: str
    ) -> GatePreview:
        """How the gate of ``target`` would judge ``image:reference`` of ``source`` now, for a
        caller who may read it (promote not needed: a preview changes nothing, and the gate
        itself is public to every signed-in caller). Raises ``Denied``, ``NotFound``."""
        src = self._names.image_in(source, image)
        dst = self._names.image_in(target, image)
        src.require_local()
        dst.require_local()
        if not self._evaluator.allowed(principal, src.repository.key, src.image, Action.READ):
            raise Denied(f"{principal.name} may not read {src.name}")
        with self._db.read() as conn:
            root = find_manifest(conn, src, reference)
            closure = walk(conn, src, root, True)
        evaluation = evaluate(
            parse_gate(dst.repository.options.get("gate")),
            src.repository.key,
            src.repository.stage,
            closure.properties.get(root.digest, {}),
            closure.referrer_types,
        )
        return GatePreview(
            src.repository.key, src.image, reference, root.digest, dst.repository.key, evaluation
        )

    def _may_see(self, principal: Principal, r: PromotionRecord) -> bool:
        return self._evaluator.allowed(
            principal, r.source, r.image, Action.READ
        ) or self._evaluator.allowed(principal, r.target, r.target_image, Action.READ)


def _fields(record: PromotionRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in PromotionRecord.__dataclass_fields__}


def _record_of(row: Mapping[str, Any]) -> PromotionRecord:
    counts = row["counts"] or {}
    return PromotionRecord(
        id=row["id"],
        created_at=_utc(row["created_at"]),
        actor=row["actor"],
        source=row["source"],
        image=row["image"],
        target=row["target"],
        target_image=row["target_image"],
        digest=row["digest"],
        tag=row["tag"],
        target_tag=row["target_tag"],
        mode=row["mode"],
        properties=row["properties"] or {},
        evaluation=row["evaluation"],
        outcome=row["outcome"],
        manifests=int(counts.get("manifests", 0)),
        blobs=int(counts.get("blobs", 0)),
        referrers=int(counts.get("referrers", 0)),
    )

"""Cleanup: stored plans and applying exactly a plan (docs/lifecycle.md); the policies and their
scheduled runs are services/retention_policies.py.

Owns: who may do what (``manage`` to set a policy, ``delete`` to plan and to apply), that a
protected repository (option ``protected``; by default the stage ``prod``) is never touched —
its selection is listed as refused, even in an admin's plan —, the state each item had when
planned (its digest, tags and properties, and a fingerprint of them), the re-check of that
state when applying (each item in its own transaction: deleted into the trash or refused with
the reason), that a plan is applied once and expires, and the audit and events of an apply
(one ``cleanup.applied`` audit row and event, ``image.deleted`` per deleted manifest).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import cleanup as cleanup_q
from tidegate.db import content as content_q
from tidegate.db import promotions as promotion_q
from tidegate.db import properties as props_q
from tidegate.db import repositories as repo_q
from tidegate.db.records import RepositoryRecord
from tidegate.errors import Conflict, Denied, InvalidRequest, NotFound, TidegateError
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.cleanup_items import (
    fingerprint,
    is_protected,
    property_change,
    public,
    sorted_properties,
    visible_view,
)
from tidegate.services.names import NameResolver
from tidegate.services.retention import (
    Candidate,
    ImageState,
    ManifestState,
    Policy,
    TagState,
    parse_policy,
    select,
)
from tidegate.services.trash import TrashBin, publish_deleted

log = structlog.get_logger("tidegate.cleanup")

PLAN_TTL = timedelta(hours=24)


class CleanupService:
    def __init__(
        self,
        db: Database,
        names: NameResolver,
        evaluator: PermissionEvaluator,
        audit: AuditLog,
        trash: TrashBin,
        plan_ttl: timedelta = PLAN_TTL,
    ) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator
        self._audit = audit
        self._trash = trash
        self._plan_ttl = plan_ttl

    def _repository(self, key: str) -> RepositoryRecord:
        self._names.repositories()  # fresh rows: protection and policies must be current
        record = self._names.repository(key)
        if record is None:
            raise NotFound(f"no repository {key!r}")
        return record

    # --- plans ---------------------------------------------------------------------------

    def plan(
        self,
        actor: Actor,
        repo: str,
        inline: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Store a plan of what the policy (``inline``, else the repository's) deletes in
        ``repo`` now. Needs ``delete`` on the repository."""
        now = now or datetime.now(UTC)
        record = self._repository(repo)
        if not self._evaluator.allowed(actor.principal, repo, "", Action.DELETE):
            raise Denied(
                f"{actor.name} may not plan a cleanup of {repo!r}: that needs delete there"
            )
        if record.kind != "local":
            raise InvalidRequest(
                f"repository {repo!r} is a {record.kind} repository; cleanup plans are for"
                " local repositories"
            )
        if inline is not None:
            policy = parse_policy(inline, "policy")
        elif record.options.get("retention"):
            policy = parse_policy(record.options["retention"])
        else:
            raise InvalidRequest(
                f"repository {repo!r} has no retention policy: give rules in the request"
                f" (or set one: PUT /api/v1/repositories/{repo}/retention)"
            )
        with self._db.read() as conn:
            items, refused = self._select(conn, actor.principal, record, policy, now)
        plan_id = uuid.uuid4().hex[:16]
        values = {
            "id": plan_id,
            "repository": repo,
            "actor": actor.name[:128],
            "created_at": now,
            "expires_at": now + self._plan_ttl,
            "policy": policy.as_dict(),
            "items": items,
            "refused": refused,
            "state": "planned",
        }
        with self._db.transaction() as conn:
            cleanup_q.insert_plan(conn, values)
            self._audit.record(
                conn,
                actor,
                "cleanup.planned",
                repo,
                {"plan_id": plan_id, "items": len(items), "refused": len(refused)},
            )
        stored = {**values, "applied_at": None, "applied_by": None, "result": None}
        return self._view(actor.principal, stored)

    def _readable(self, principal: Principal, repo: str, image: str) -> bool:
        return self._evaluator.allowed(principal, repo, image, Action.READ)

    def _view(
        self, principal: Principal, plan: Mapping[str, Any], with_items: bool = True
    ) -> dict[str, Any]:
        """The plan as ``principal`` may see it (images it may read; ``hidden`` counts the
        rest: a plan is stored whole, an admin's lists every image)."""
        repo = plan["repository"]
        return visible_view(plan, lambda image: self._readable(principal, repo, image), with_items)

    def _select(
        self,
        conn: Connection,
        principal: Principal,
        record: RepositoryRecord,
        policy: Policy,
        now: datetime,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows, tag_rows = cleanup_q.repository_state(conn, record.id)
        # Only what the planner may read is considered: a plan must not reveal (not even as
        # a refusal) images outside the planner's grants.
        rows = {k: r for k, r in rows.items() if self._readable(principal, record.key, r.image)}
        by_key = {(r.image, r.digest): r for r in rows.values()}
        images: dict[str, ImageState] = {}
        for image in sorted({r.image for r in rows.values()}):
            images[image] = ImageState(
                image,
                {
                    r.digest: ManifestState(
                        r.digest,
                        r.created_at,
                        r.subject,
                        r.artifact_type,
                        tuple(r.children),
                        r.properties,
                    )
                    for r in rows.values()
                    if r.image == image
                },
                [
                    TagState(t.name, t.digest, t.updated_at)
                    for t in tag_rows
                    if t.image == image and (image, t.digest) in by_key
                ],
            )
        selection = select(policy, list(images.values()), now)
        protected = is_protected(record)
        tagged: dict[tuple[str, str], list[str]] = {}
        for t in tag_rows:
            tagged.setdefault((t.image, t.digest), []).append(t.name)
        items: list[dict[str, Any]] = []
        refused = [public(self._item(record.key, c, by_key, tagged)) for c in selection.refused]
        for c in selection.items:
            item = self._item(record.key, c, by_key, tagged)
            if protected:
                why = f"repository {record.key!r} is protected; cleanup never touches it"
                refused.append({**public(item), "reason": f"{why} (selected: {c.reason})"})
            elif not self._evaluator.allowed(principal, record.key, c.image, Action.DELETE):
                why = f"{principal.name} may not delete in {record.key}/{c.image}"
                refused.append({**public(item), "reason": f"{why} (selected: {c.reason})"})
            else:
                items.append(item)
        self._bytes_freed(conn, items, by_key)
        for number, item in enumerate(items, 1):
            item["n"] = number
        return items, refused

    def _item(
        self,
        repo: str,
        c: Candidate,
        by_key: Mapping[tuple[str, str], cleanup_q.ManifestRow],
        tagged: Mapping[tuple[str, str], list[str]],
    ) -> dict[str, Any]:
        row = by_key.get((c.image, c.digest))
        props = sorted_properties(row.properties) if row is not None else {}
        tags = [c.tag] if c.tag is not None else list(c.tags)
        return {
            "kind": "tag" if c.tag is not None else "manifest",
            "repository": repo,
            "image": c.image,
            "tag": c.tag,
            "digest": c.digest,
            "tags": tags,
            "reason": c.reason,
            "bytes_freed": 0,
            "fingerprint": fingerprint(c.digest, tags, props),
            # every tag the manifest carried when planned: apply requires exactly these (a
            # tag-only item too: deleting t1 of a manifest whose other tag went meanwhile
            # would leave it untagged, which the plan never showed)
            "expect": {
                "tags": tags,
                "manifest_tags": sorted(tagged.get((c.image, c.digest), [])),
                "properties": props,
            },
        }

    def _bytes_freed(
        self,
        conn: Connection,
        items: list[dict[str, Any]],
        by_key: Mapping[tuple[str, str], cleanup_q.ManifestRow],
    ) -> None:
        """Per manifest item: the bytes of its blobs (and of its own manifest) that no
        manifest outside the plan references anywhere in the deployment, each counted once
        (on the first item that frees it). What garbage collection can reclaim once the
        trash entries expire; a layer shared with any other image, in any repository, frees
        nothing."""
        doomed = [by_key[(i["image"], i["digest"])] for i in items if i["kind"] == "manifest"]
        excluded = {r.id for r in doomed}
        blobs = {d for r in doomed for d in r.blobs}
        digests = {r.digest for r in doomed}
        kept = cleanup_q.referenced_outside(conn, blobs | digests, excluded)
        sizes = cleanup_q.blob_sizes(conn, blobs - kept)
        manifest_sizes = cleanup_q.manifest_sizes(conn, excluded)
        counted: set[str] = set(kept)
        for item in items:
            if item["kind"] != "manifest":
                continue
            row = by_key[(item["image"], item["digest"])]
            freed = 0
            for digest in row.blobs:
                if digest not in counted:
                    freed += sizes.get(digest, 0)
                    counted.add(digest)
            if row.digest not in counted:
                freed += manifest_sizes.get(row.id, 0)
                counted.add(row.digest)
            item["bytes_freed"] = freed

    def get(self, principal: Principal, plan_id: str) -> dict[str, Any]:
        with self._db.read() as conn:
            plan = cleanup_q.get_plan(conn, plan_id)
        if plan is None or not self._evaluator.allowed(
            principal, plan["repository"], "", Action.READ
        ):
            raise NotFound(f"no cleanup plan {plan_id!r}")
        return self._view(principal, plan)

    def plans(
        self, principal: Principal, repo: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        keys = [r.key for r in self._names.repositories() if repo in (None, r.key)]
        keys = [k for k in keys if self._evaluator.allowed(principal, k, "", Action.READ)]
        with self._db.read() as conn:
            plans = cleanup_q.list_plans(conn, keys, max(1, min(limit, 1000)))
        return [self._view(principal, p, with_items=False) for p in plans]

    # --- apply ---------------------------------------------------------------------------

    def apply(self, actor: Actor, plan_id: str, now: datetime | None = None) -> dict[str, Any]:
        """Execute exactly the stored plan, once: each item in its own transaction, deleted
        (into the trash) only when its state is the planned one, else refused with why."""
        now = now or datetime.now(UTC)
        with self._db.read() as conn:
            plan = cleanup_q.get_plan(conn, plan_id)
        if plan is None:
            raise NotFound(f"no cleanup plan {plan_id!r}")
        repo = plan["repository"]  # repositories are no secret: 403 names it
        if not self._evaluator.allowed(actor.principal, repo, "", Action.DELETE):
            raise Denied(f"{actor.name} may not apply a cleanup of {repo!r}: needs delete there")
        if plan["state"] != "planned":
            raise Conflict(
                f"cleanup plan {plan_id} was already applied (by {plan['applied_by']}):"
                " a plan is applied once; make a new plan"
            )
        expires = plan["expires_at"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if expires <= now:
            raise Conflict(f"cleanup plan {plan_id} expired at {expires:%Y-%m-%d %H:%M} UTC")
        self._require_delete_on_items(actor, plan)
        with self._db.transaction() as conn:
            if not cleanup_q.claim_plan(conn, plan_id, actor.name, now):
                raise Conflict(f"cleanup plan {plan_id} is being applied or was applied")
        done: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for item in plan["items"]:
            try:
                with self._db.transaction() as conn:
                    reason = self._apply_item(conn, actor, plan_id, item, now)
                    if reason is not None:
                        raise _Refused(reason)
            except TidegateError as exc:
                refused.append({**public(item), "reason": exc.message})
                continue
            done.append(public(item))
        result = {
            "plan_id": plan_id,
            "repository": repo,
            "applied": done,
            "refused": refused,
            "bytes_freed": sum(int(i.get("bytes_freed") or 0) for i in done),
        }
        summary = {
            "plan_id": plan_id,
            "repository": repo,
            "deleted_manifests": sum(1 for i in done if i["kind"] == "manifest"),
            "deleted_tags": sum(len(i["tags"]) for i in done),
            "refused": len(refused),
            "bytes_freed": result["bytes_freed"],
        }
        with self._db.transaction() as conn:
            cleanup_q.finish_plan(conn, plan_id, summary, datetime.now(UTC))
            self._audit.record(
                conn,
                actor,
                "cleanup.applied",
                repo,
                {
                    **summary,
                    "items": [{k: i[k] for k in ("kind", "image", "tag", "digest")} for i in done],
                    "refused_items": [
                        {k: i[k] for k in ("kind", "image", "tag", "digest", "reason")}
                        for i in refused
                    ],
                },
            )
            promotion_q.publish(conn, "cleanup.applied", repo, {**summary, "actor": actor.name})
        return result

    def _require_delete_on_items(self, actor: Actor, plan: Mapping[str, Any]) -> None:
        """Applying uses a plan up (once): only someone who may delete every item's image may
        do it. Else 403 naming the images (those the caller may read), the plan unclaimed."""
        repo = plan["repository"]
        images = sorted({i["image"] for i in plan["items"] or []})
        missing = [
            i
            for i in images
            if not self._evaluator.allowed(actor.principal, repo, i, Action.DELETE)
        ]
        if not missing:
            return
        named = [i for i in missing if self._readable(actor.principal, repo, i)]
        others = len(missing) - len(named)
        listed = ", ".join(f"{repo}/{i}" for i in named[:10])
        if len(named) > 10:
            listed += f" and {len(named) - 10} more"
        if others:
            listed = (listed + " and " if listed else "") + f"{others} image(s) you may not read"
        raise Denied(
            f"{actor.name} may not apply cleanup plan {plan['id']}: it needs delete on every"
            f" image it lists, and is missing it on {listed}; the plan is left for someone who"
            " may"
        )

    def _apply_item(
        self, conn: Connection, actor: Actor, plan_id: str, item: Mapping[str, Any], now: datetime
    ) -> str | None:
        """Delete one item if its state is still the planned one; else the reason not to."""
        record = repo_q.get_by_key(conn, item["repository"])
        if record is None:
            return f"repository {item['repository']!r} no longer exists"
        if is_protected(record):
            return f"repository {record.key!r} is protected"
        image, digest = item["image"], item["digest"]
        if not self._evaluator.allowed(actor.principal, record.key, image, Action.DELETE):
            return f"{actor.name} may not delete in {record.key}/{image}"
        if record.options.get("immutable_tags") and item["tags"] and not actor.principal.is_admin:
            return f"tags in {record.key!r} are immutable"
        promotion_q.lock_repository(conn, record.id)
        expect = item["expect"]
        if item["kind"] == "tag":
            tag = item["tag"]
            current = content_q.tag_digest(conn, record.id, image, tag)
            if current is None:
                return f"tag {tag!r} was deleted since planning"
            if current != digest:
                return f"tag {tag!r} moved since planning (from {digest} to {current})"
        manifest = content_q.get_manifest(conn, record.id, image, digest)
        if manifest is None:
            return f"manifest {digest} is no longer in {record.key}/{image}"
        props_q.lock_manifest(conn, manifest.id)
        change = property_change(
            expect["properties"], sorted_properties(props_q.get(conn, manifest.id))
        )
        if change:
            return f"properties of {digest} changed since planning ({change})"
        tags = sorted(content_q.list_tags_for(conn, record.id, image, digest))
        planned_tags = expect.get("manifest_tags")
        if planned_tags is None and item["kind"] == "manifest":
            planned_tags = expect["tags"]  # a plan stored before manifest_tags existed
        if planned_tags is not None and tags != sorted(planned_tags):
            planned_tags = sorted(planned_tags)
            planned = ", ".join(planned_tags) or "none"
            return (
                f"tags of {digest} changed since planning (planned: {planned};"
                f" now: {', '.join(tags) or 'none'})"
            )
        if item["kind"] == "tag":
            self._trash.tag(
                conn, record.id, image, item["tag"], actor.name, item["reason"], plan_id, now
            )
            publish_deleted(
                conn, record.key, image, digest, actor.name, item["reason"],
                tag=item["tag"], plan_id=plan_id,
            )  # fmt: skip
            return None
        parents = content_q.referencing_manifests(conn, record.id, image, digest, "manifest")
        if parents:
            return f"index {', '.join(parents)} still lists it"
        attached = content_q.referrers(conn, record.id, image, digest, None)
        if attached:
            return f"referrer {attached[0].digest} is still attached to it"
        self._trash.manifest(conn, record.id, image, digest, actor.name, item["reason"], plan_id)
        publish_deleted(
            conn, record.key, image, digest, actor.name, item["reason"],
            tags=tags, plan_id=plan_id,
        )  # fmt: skip
        return None


class _Refused(Conflict):
    """An item whose state changed since planning (rolls its transaction back)."""

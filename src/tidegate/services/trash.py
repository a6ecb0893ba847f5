"""The trash: deleted manifests and tags stay restorable for ``trash_days`` (docs/lifecycle.md).

Owns: moving a manifest or a tag into the trash inside the deleting transaction (``TrashBin``,
used by /v2 deletes and cleanup apply), listing entries (``read`` on the image), and restoring
one (``delete`` on the image): the exact manifest bytes and digest, its properties, its blob
links, and each tag that is free or still names that digest (a tag now naming another digest
is refused with the reason). A restore is audited and published as ``trash.restored``;
purging one entry before it expires (``delete`` on the image) is audited as ``trash.purged``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import content as content_q
from tidegate.db import promotions as promotion_q
from tidegate.db import properties as props_q
from tidegate.db import trash as trash_q
from tidegate.db.records import RepositoryRecord
from tidegate.db.trash import TrashRecord
from tidegate.errors import Conflict, Denied, NotFound
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.names import NameResolver

DEFAULT_DAYS = 14


def publish_deleted(
    conn: Connection,
    repository: str,
    image: str,
    digest: str,
    actor: str,
    reason: str,
    *,
    tag: str | None = None,
    tags: list[str] | None = None,
    plan_id: str | None = None,
) -> None:
    """``image.deleted`` for a manifest (``tags``: those it carried) or one tag (``tag``) that
    went to the trash, in the deleting transaction: /v2 deletes and cleanup alike."""
    data: dict[str, Any] = {"repository": repository, "image": image, "digest": digest}
    if tag is not None:
        data["tag"] = tag
    else:
        data["tags"] = sorted(tags or [])
    data.update(actor=actor, reason=reason)
    if plan_id is not None:
        data["plan_id"] = plan_id
    subject = f"{repository}/{image}:{tag}" if tag is not None else f"{repository}/{image}@{digest}"
    promotion_q.publish(conn, "image.deleted", subject, data)


class TrashBin:
    """Deletes into the trash, in the caller's transaction. ``days`` 0: deletes for good
    (the bytes become garbage at once)."""

    def __init__(self, days: int = DEFAULT_DAYS) -> None:
        self.days = days

    def manifest(
        self,
        conn: Connection,
        repository_id: int,
        image: str,
        digest: str,
        actor: str,
        reason: str,
        plan_id: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Move a manifest with its tags and properties to the trash; False when absent."""
        now = now or datetime.now(UTC)
        if self.days <= 0:
            return content_q.delete_manifest(conn, repository_id, image, digest)
        entry = trash_q.trash_manifest(
            conn,
            repository_id=repository_id,
            image=image,
            digest=digest,
            deleted_by=actor,
            reason=reason,
            plan_id=plan_id,
            deleted_at=now,
            expires_at=now + timedelta(days=self.days),
        )
        return entry is not None

    def tag(
        self,
        conn: Connection,
        repository_id: int,
        image: str,
        tag: str,
        actor: str,
        reason: str,
        plan_id: str | None = None,
        now: datetime | None = None,
    ) -> str | None:
        """Delete a tag, keeping it in the trash; the digest it named, or None when absent."""
        now = now or datetime.now(UTC)
        digest = content_q.tag_digest(conn, repository_id, image, tag)
        if digest is None or not content_q.delete_tag(conn, repository_id, image, tag):
            return None
        if self.days > 0:
            trash_q.trash_tag(
                conn,
                repository_id=repository_id,
                image=image,
                tag=tag,
                digest=digest,
                deleted_by=actor,
                reason=reason,
                plan_id=plan_id,
                deleted_at=now,
                expires_at=now + timedelta(days=self.days),
            )
        return digest


@dataclass(frozen=True, slots=True)
class TrashEntry:
    id: int
    kind: str
    repository: str
    image: str
    digest: str
    tags: list[str]
    properties: dict[str, list[str]]
    media_type: str | None
    size: int | None
    deleted_at: datetime
    expires_at: datetime
    deleted_by: str
    reason: str | None
    plan_id: str | None


@dataclass(frozen=True, slots=True)
class Restored:
    entry: TrashEntry
    tags_restored: list[str] = field(default_factory=list)
    tags_refused: list[dict[str, str]] = field(default_factory=list)
    manifest: str = "restored"  # restored | already present
    # property keys of the entry put back, and those left as they are now (the manifest was
    # back already and carries the key: its current value is kept)
    properties_restored: list[str] = field(default_factory=list)
    properties_kept: list[dict[str, Any]] = field(default_factory=list)


def _entry(record: TrashRecord, key: str) -> TrashEntry:
    return TrashEntry(
        record.id,
        record.kind,
        key,
        record.image,
        record.digest,
        list(record.tags),
        dict(record.properties),
        record.media_type,
        record.size,
        record.deleted_at,
        record.expires_at,
        record.deleted_by,
        record.reason,
        record.plan_id,
    )


class TrashService:
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

    def _repositories(self) -> dict[int, RepositoryRecord]:
        return {r.id: r for r in self._names.repositories()}

    def entries(
        self,
        principal: Principal,
        repo: str | None = None,
        image: str | None = None,
        digest: str | None = None,
        limit: int = 100,
    ) -> list[TrashEntry]:
        """Entries (newest first) of images the caller may read."""
        records = self._repositories()
        if repo is not None:
            wanted = {i: r for i, r in records.items() if r.key == repo}
            if not wanted:
                raise NotFound(f"no repository {repo!r}")
            records = wanted
        with self._db.read() as conn:
            rows = trash_q.list_entries(conn, records, image, digest, max(1, min(limit, 1000)))
        return [
            _entry(r, records[r.repository_id].key)
            for r in rows
            if self._evaluator.allowed(
                principal, records[r.repository_id].key, r.image, Action.READ
            )
        ]

    def restore(self, actor: Actor, entry_id: int) -> Restored:
        """Bring an entry back (see the module docstring); the entry is then gone."""
        with self._db.transaction() as conn:
            record = trash_q.get_entry(conn, entry_id)
            repo = self._repositories().get(record.repository_id) if record else None
            # an entry of an image the caller cannot read is as absent as in the list: 404,
            # and its repository and image are not named (as purge and cleanup plans do)
            if (
                record is None
                or repo is None
                or not self._evaluator.allowed(actor.principal, repo.key, record.image, Action.READ)
            ):
                raise NotFound(f"no trash entry {entry_id}")
            if not self._evaluator.allowed(actor.principal, repo.key, record.image, Action.DELETE):
                raise Denied(
                    f"{actor.name} may not restore into {repo.key}/{record.image}: that needs"
                    " delete there"
                )
            promotion_q.lock_repository(conn, repo.id)
            state = "restored"
            props: tuple[list[str], list[dict[str, Any]]] = ([], [])
            if record.kind == trash_q.MANIFEST:
                state, props = self._restore_manifest(conn, repo, record)
            elif content_q.get_manifest(conn, repo.id, record.image, record.digest) is None:
                raise Conflict(
                    f"tag {record.tags[0]!r} named {record.digest}, which {repo.key}/"
                    f"{record.image} no longer holds: restore that manifest first"
                    + _holders(conn, record)
                )
            restored, refused = _restore_tags(conn, repo.id, record)
            trash_q.remove_entry(conn, record.id)
            result = Restored(_entry(record, repo.key), restored, refused, state, *props)
            detail = _detail(result)
            self._audit.record(conn, actor, "trash.restored", f"{repo.key}/{record.image}", detail)
            promotion_q.publish(
                conn, "trash.restored", f"{repo.key}/{record.image}@{record.digest}", detail
            )
        return result

    def purge(self, actor: Actor, entry_id: int) -> TrashEntry:
        """Forget an entry now, as its expiry would (``delete`` on the image; audited as
        ``trash.purged``): it can no longer be restored, and what only it held becomes garbage
        that the next GC run reclaims (and stops counting against the repository's quota)."""
        with self._db.transaction() as conn:
            record = trash_q.get_entry(conn, entry_id)
            repo = self._repositories().get(record.repository_id) if record else None
            if (
                record is None
                or repo is None
                or not self._evaluator.allowed(actor.principal, repo.key, record.image, Action.READ)
            ):
                raise NotFound(f"no trash entry {entry_id}")
            if not self._evaluator.allowed(actor.principal, repo.key, record.image, Action.DELETE):
                raise Denied(
                    f"{actor.name} may not purge trash entries of {repo.key}/{record.image}:"
                    " that needs delete there"
                )
            trash_q.remove_entry(conn, record.id)
            entry = _entry(record, repo.key)
            self._audit.record(
                conn,
                actor,
                "trash.purged",
                f"{repo.key}/{record.image}",
                {
                    "trash_id": entry.id,
                    "kind": entry.kind,
                    "repository": entry.repository,
                    "image": entry.image,
                    "digest": entry.digest,
                    "tags": entry.tags,
                },
            )
        return entry

    def _restore_manifest(
        self, conn: Connection, repo: RepositoryRecord, r: TrashRecord
    ) -> tuple[str, tuple[list[str], list[dict[str, Any]]]]:
        present = content_q.get_manifest(conn, repo.id, r.image, r.digest)
        if present is not None:
            # pushed or promoted again meanwhile: keep that row and what was set on it since;
            # the trashed keys it does not carry come back
            props_q.lock_manifest(conn, present.id)
            current = props_q.get(conn, present.id)
            absent = {k: v for k, v in r.properties.items() if k not in current}
            if absent:
                props_q.set_keys(conn, present.id, absent)
            kept = [
                {"key": k, "current": sorted(current[k]), "trashed": sorted(v)}
                for k, v in sorted(r.properties.items())
                if k in current
            ]
            return "already present", (sorted(absent), kept)
        if content_q.manifest_content(conn, r.digest) is None:
            raise Conflict(f"the bytes of manifest {r.digest} are gone; it cannot be restored")
        refs = trash_q.entry_references(conn, r.id)
        children = [d for d, k in refs if k == "manifest"]
        missing = sorted(
            set(children) - content_q.existing_manifests(conn, repo.id, r.image, children)
        )
        if missing:
            waiting = trash_q.list_entries(conn, [repo.id], r.image, None, 1000)
            ids = sorted(e.id for e in waiting if e.digest in missing and e.kind == "manifest")
            hint = f" (trash entries {', '.join(map(str, ids))})" if ids else ""
            raise Conflict(
                f"index {r.digest} lists {', '.join(missing)}, which {repo.key}/{r.image} no"
                f" longer holds: restore those first{hint}"
            )
        for digest, kind in refs:
            if kind != "blob":
                continue
            if content_q.blob_size(conn, digest) is None:
                raise Conflict(f"blob {digest} of manifest {r.digest} is gone; cannot restore")
            content_q.link_blob(conn, repo.id, r.image, digest)
        trash_q.restore_manifest_row(conn, r, refs)
        return "restored", (sorted(r.properties), [])


def _holders(conn: Connection, record: TrashRecord) -> str:
    entries = trash_q.list_entries(conn, [record.repository_id], record.image, record.digest)
    ids = [str(e.id) for e in entries if e.kind == trash_q.MANIFEST]
    return f" (trash entry {', '.join(ids)})" if ids else ""


def _restore_tags(
    conn: Connection, repository_id: int, record: TrashRecord
) -> tuple[list[str], list[dict[str, str]]]:
    restored: list[str] = []
    refused: list[dict[str, str]] = []
    for tag in record.tags:
        current = content_q.tag_digest(conn, repository_id, record.image, tag)
        if current is None or current == record.digest:
            content_q.set_tag(conn, repository_id, record.image, tag, record.digest)
            restored.append(tag)
        else:
            refused.append({"tag": tag, "reason": f"{tag!r} now points at {current}"})
    return restored, refused


def _detail(result: Restored) -> dict[str, Any]:
    e = result.entry
    return {
        "trash_id": e.id,
        "kind": e.kind,
        "repository": e.repository,
        "image": e.image,
        "digest": e.digest,
        "manifest": result.manifest,
        "tags_restored": result.tags_restored,
        "tags_refused": result.tags_refused,
        "properties_restored": result.properties_restored,
        "properties_kept": result.properties_kept,
    }

"""Manifests and tags in a repository: push, pull, delete, list, referrers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import content as q
from tidegate.db import gc as gc_q
from tidegate.db import promotions as promotion_q
from tidegate.db import properties as props_q
from tidegate.errors import (
    Conflict,
    Denied,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    NameUnknown,
)
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest, is_digest
from tidegate.oci.manifest import MAX_MANIFEST_BYTES, ParsedManifest, parse_manifest
from tidegate.oci.names import validate_tag
from tidegate.services import quotas
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.names import ImageRef
from tidegate.services.trash import TrashBin, publish_deleted


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: Digest
    subject: str | None


_V2_DELETE = "deleted through /v2"


def _digest_reference(reference: str) -> Digest | None:
    """A digest reference parsed, or None for a tag (validated)."""
    if is_digest(reference):
        return Digest.parse(reference)
    validate_tag(reference)
    return None


class ManifestService:
    def __init__(
        self,
        db: Database,
        evaluator: PermissionEvaluator,
        audit: AuditLog | None = None,
        trash: TrashBin | None = None,
    ) -> None:
        self._db = db
        self._evaluator = evaluator
        self._audit = audit
        self._trash = trash or TrashBin()

    # --- pull ----------------------------------------------------------------------------

    def get(self, ref: ImageRef, reference: str) -> StoredManifest:
        """A malformed reference names nothing that exists: MANIFEST_UNKNOWN, as clients and
        the conformance suites expect on reads (a push of one is MANIFEST/DIGEST_INVALID)."""
        try:
            digest = _digest_reference(reference)
        except (DigestInvalid, ManifestInvalid):
            raise ManifestUnknown(
                f"manifest {reference!r} is unknown to {ref.name} (not a valid tag or digest)"
            ) from None
        found = self._db.fast.resolve_manifest(
            ref.repository_id, ref.image, str(digest or reference), digest is not None
        )
        if found is None:
            raise ManifestUnknown(f"manifest {reference!r} is unknown to {ref.name}")
        return StoredManifest(*found)

    # --- push ----------------------------------------------------------------------------

    def put(
        self,
        ref: ImageRef,
        reference: str,
        body: bytes,
        content_type: str | None,
        extra_tags: list[str],
        principal: Principal,
        address: str | None = None,
    ) -> PutResult:
        ref.require_push_allowed()
        if len(body) > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge(
                f"manifest is {len(body)} bytes; the limit is {MAX_MANIFEST_BYTES} bytes (4 MiB)"
            )
        by_digest = _digest_reference(reference)
        tags = [validate_tag(t) for t in extra_tags]
        if by_digest is None:
            tags.insert(0, reference)
        digest = Digest.of(body, by_digest.algorithm if by_digest else "sha256")
        if by_digest is not None and digest != by_digest:
            raise DigestInvalid(
                f"the manifest's content has digest {digest}, not {by_digest} as in the URL"
            )
        parsed = parse_manifest(body, content_type)
        blob_refs = [str(d.digest) for d in parsed.required_blobs()]
        with quotas.reported(self._db), self._db.transaction() as conn:
            # a GC sweeping these blobs (or this manifest's bytes) runs wholly before (then
            # MANIFEST_BLOB_UNKNOWN below) or after (then they are named and kept)
            quotas.lock(conn, ref)  # the repository before the digests
            gc_q.lock_digests(conn, [*blob_refs, str(digest)])
            self._check_references(conn, ref, parsed)
            if q.get_manifest(conn, ref.repository_id, ref.image, str(digest)) is None:
                quotas.check(conn, ref, manifest_bytes=len(body), what=f"manifest {digest}")
            created = q.put_manifest(
                conn,
                repository_id=ref.repository_id,
                image=ref.image,
                digest=str(digest),
                content=body,
                media_type=parsed.media_type,
                artifact_type=parsed.referrer_artifact_type(),
                subject=str(parsed.subject.digest) if parsed.subject else None,
                annotations=parsed.annotations,
                pushed_by=principal.name,
                blob_refs=blob_refs,
                manifest_refs=[str(d.digest) for d in parsed.children],
            )
            if created:
                self._set_push_properties(conn, ref, str(digest), principal)
            changed = {tag: self._set_tag(conn, ref, tag, str(digest), principal) for tag in tags}
            self._publish(conn, ref, str(digest), parsed, len(body), created, changed, principal)
            if created or any(p != "" for p in changed.values()):
                tags = sorted(t for t, p in changed.items() if p != "")
                target = f"{ref.name}@{digest}"
                self._audited(conn, principal, address, "image.pushed", target, {"tags": tags})
        return PutResult(digest, str(parsed.subject.digest) if parsed.subject else None)

    def _set_push_properties(
        self, conn: Connection, ref: ImageRef, digest: str, principal: Principal
    ) -> None:
        """System properties of a first push (docs/promotion.md): who, and when."""
        record = q.get_manifest(conn, ref.repository_id, ref.image, digest)
        assert record is not None
        props_q.set_keys(
            conn,
            record.id,
            {
                "tidegate.pushed_by": [principal.name],
                "tidegate.pushed_at": [
                    datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
                ],
            },
        )

    def _check_references(self, conn: Connection, ref: ImageRef, parsed: ParsedManifest) -> None:
        if ref.option("allow_sparse", False):
            return
        blobs = [str(d.digest) for d in parsed.required_blobs()]
        missing = sorted(set(blobs) - q.linked_blobs(conn, ref.repository_id, ref.image, blobs))
        children = [str(d.digest) for d in parsed.children]
        missing += sorted(
            set(children) - q.existing_manifests(conn, ref.repository_id, ref.image, children)
        )
        if missing:
            raise ManifestBlobUnknown(
                f"the manifest references content that {ref.name} does not hold: "
                + ", ".join(missing)
                + "; push those blobs (or child manifests) first",
                detail={"missing": missing},
            )

    def _publish(
        self,
        conn: Connection,
        ref: ImageRef,
        digest: str,
        parsed: ParsedManifest,
        size: int,
        created: bool,
        changed: dict[str, str | None],
        principal: Principal,
    ) -> None:
        """Events of a push, in its transaction (docs/events.md): ``image.pushed`` when the
        manifest is new to the image or a tag now names it; ``tag.moved`` per tag that named
        another digest before. A push that changes nothing publishes nothing."""
        base = {
            "repository": ref.repository.key,
            "image": ref.image,
            "digest": digest,
            "media_type": parsed.media_type,
            "size": size,
            "actor": principal.name,
        }
        new_tags = [t for t, previous in changed.items() if previous != ""]
        if created or new_tags:
            tag = new_tags[0] if new_tags else None
            subject = f"{ref.name}:{tag}" if tag else f"{ref.name}@{digest}"
            data = {**base, "tag": tag, "tags": new_tags}
            promotion_q.publish(conn, "image.pushed", subject, data)
        for tag, previous in changed.items():
            if previous:
                data = {**base, "tag": tag, "previous_digest": previous}
                promotion_q.publish(conn, "tag.moved", f"{ref.name}:{tag}", data)

    def _set_tag(
        self, conn: Connection, ref: ImageRef, tag: str, digest: str, principal: Principal
    ) -> str | None:
        """Moving an existing tag to another digest needs ``overwrite``; in a repository with
        immutable tags only an admin may move one. Returns ``""`` when the tag already named
        ``digest``, the digest it named before when it moved, or None when it is new."""
        current = q.tag_digest(conn, ref.repository_id, ref.image, tag)
        if current is not None and current != digest and not principal.is_admin:
            if ref.option("immutable_tags", False):
                raise Denied(f"tag {tag!r} in {ref.repository.key!r} is immutable")
            if not self._evaluator.allowed(
                principal, ref.repository.key, ref.image, Action.OVERWRITE
            ):
                raise Denied(
                    f"tag {tag!r} of {ref.name} already points at {current}; moving it needs"
                    f" the overwrite permission, which {principal.name} does not have in"
                    f" {ref.repository.key!r} (push a new tag instead)"
                )
        if current == digest:
            return ""
        previous = q.set_tag(conn, ref.repository_id, ref.image, tag, digest)
        return "" if previous == digest else previous

    # --- delete --------------------------------------------------------------------------

    def delete(
        self, ref: ImageRef, reference: str, principal: Principal, address: str | None = None
    ) -> None:
        """Delete a manifest by digest (with every tag on it), or only a tag by name. Both go
        to the trash (restorable for ``trash_days``) and are audited (``tag.deleted``,
        ``manifest.deleted``) in the same transaction, and published as ``image.deleted`` (a
        tag's with ``tag`` and the digest it named, the manifest untouched)."""
        ref.require_local()
        digest = _digest_reference(reference)
        immutable = ref.option("immutable_tags", False) and not principal.is_admin
        with self._db.transaction() as conn:
            if digest is None:
                if immutable:
                    raise Denied(f"tag {reference!r} in {ref.repository.key!r} is immutable")
                gone = self._trash.tag(
                    conn, ref.repository_id, ref.image, reference, principal.name, _V2_DELETE
                )
                if gone is None:
                    raise ManifestUnknown(f"tag {reference!r} is unknown to {ref.name}")
                publish_deleted(
                    conn, ref.repository.key, ref.image, gone, principal.name, _V2_DELETE,
                    tag=reference,
                )  # fmt: skip
                self._audited(conn, principal, address, "tag.deleted", f"{ref.name}:{reference}")
                return
            if immutable and q.list_tags_for(conn, ref.repository_id, ref.image, str(digest)):
                raise Denied(
                    f"manifest {digest} is tagged in {ref.repository.key!r}, whose tags are"
                    " immutable"
                )
            parents = q.referencing_manifests(
                conn, ref.repository_id, ref.image, str(digest), "manifest"
            )
            if parents:
                raise Conflict(
                    f"manifest {digest} is still listed by index(es) {', '.join(parents)} in"
                    f" {ref.name}: delete those first, so no index is left incomplete"
                )
            tags = q.list_tags_for(conn, ref.repository_id, ref.image, str(digest))
            if not self._trash.manifest(
                conn, ref.repository_id, ref.image, str(digest), principal.name, _V2_DELETE
            ):
                raise ManifestUnknown(f"manifest {digest} is unknown to {ref.name}")
            publish_deleted(
                conn, ref.repository.key, ref.image, str(digest), principal.name, _V2_DELETE,
                tags=tags,
            )  # fmt: skip
            self._audited(conn, principal, address, "manifest.deleted", f"{ref.name}@{digest}")

    def _audited(
        self,
        conn: Connection,
        principal: Principal,
        address: str | None,
        action: str,
        target: str,
        detail: object = None,
    ) -> None:
        if self._audit is not None:
            self._audit.record(conn, Actor(principal, address), action, target, detail)

    # --- listing -------------------------------------------------------------------------

    def tags(self, ref: ImageRef, n: int | None, last: str | None) -> list[str]:
        with self._db.read() as conn:
            if not q.image_exists(conn, ref.repository_id, ref.image):
                raise NameUnknown(f"no image {ref.image!r} in repository {ref.repository.key!r}")
            return q.list_tags(conn, ref.repository_id, ref.image, last, n)

    def referrers(self, ref: ImageRef, subject: Digest, artifact_type: str | None) -> bytes:
        """The referrers index of ``subject`` (an empty index when there are none)."""
        with self._db.read() as conn:
            rows = q.referrers(conn, ref.repository_id, ref.image, str(subject), artifact_type)
        manifests = []
        for row in rows:
            entry: dict[str, object] = {
                "mediaType": row.media_type,
                "digest": row.digest,
                "size": row.size,
            }
            if row.artifact_type:
                entry["artifactType"] = row.artifact_type
            if row.annotations:
                entry["annotations"] = row.annotations
            manifests.append(entry)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        return json.dumps(index, separators=(",", ":")).encode()

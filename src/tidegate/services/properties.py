"""Properties: multi-valued key/values on a manifest digest within one repository and image.

Owns: the limits (key grammar in ``services.gates``; values UTF-8 up to 4 KiB, 100 values per
key, 1,000 per manifest), the read-only system keys (``tidegate.*``: set on push and on
promotion, never by a caller), and the use cases get / replace / patch / remove with their
permission checks (``read`` to get, ``annotate`` to change). Every change is one transaction
that also writes the audit row and a ``properties.changed`` event to the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import content as content_q
from tidegate.db import promotions as promotion_q
from tidegate.db import properties as props_q
from tidegate.db.records import ManifestRecord
from tidegate.errors import Denied, InvalidRequest, NotFound
from tidegate.oci.digest import Digest, is_digest
from tidegate.oci.names import validate_tag
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.gates import validate_key
from tidegate.services.names import ImageRef, NameResolver

SYSTEM_PREFIX = props_q.SYSTEM_PREFIX
MAX_VALUE_BYTES = 4096
MAX_VALUES_PER_KEY = 100
MAX_VALUES_PER_MANIFEST = 1000

Values = dict[str, list[str]]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def validate_values(values: Mapping[str, list[str]]) -> Values:
    """User properties as given by a caller: valid keys (not ``tidegate.*``), string values
    of at most 4 KiB, at most 100 distinct values per key."""
    result: Values = {}
    for key, vals in values.items():
        validate_key(key)
        if key.startswith(SYSTEM_PREFIX):
            raise Denied(f"{key!r} is a system property ({SYSTEM_PREFIX}*), read-only")
        if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
            raise InvalidRequest(f"the values of {key!r} must be a list of strings")
        unique = list(dict.fromkeys(vals))
        if len(unique) > MAX_VALUES_PER_KEY:
            raise InvalidRequest(
                f"{key!r} has {len(unique)} values; at most {MAX_VALUES_PER_KEY} per key"
            )
        for value in unique:
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError:
                raise InvalidRequest(f"a value of {key!r} is not valid UTF-8") from None
            if size > MAX_VALUE_BYTES:
                raise InvalidRequest(
                    f"a value of {key!r} is longer than {MAX_VALUE_BYTES} bytes (UTF-8)"
                )
            if "\x00" in value:
                raise InvalidRequest(f"a value of {key!r} contains a NUL character")
        result[key] = unique
    return result


def check_total(conn: Connection, manifest_id: int, where: str) -> Values:
    """The manifest's properties, refused (rolling back) when over the per-manifest limit."""
    current = props_q.get(conn, manifest_id)
    total = sum(len(v) for v in current.values())
    if total > MAX_VALUES_PER_MANIFEST:
        raise InvalidRequest(
            f"{where} would carry {total} property values; at most {MAX_VALUES_PER_MANIFEST}"
        )
    return current


def parse_reference(reference: str) -> tuple[str | None, str | None]:
    """(tag, digest) of a reference: exactly one is set."""
    if is_digest(reference):
        return None, str(Digest.parse(reference))
    return validate_tag(reference), None


def find_manifest(conn: Connection, ref: ImageRef, reference: str) -> ManifestRecord:
    """The manifest a tag or digest names in (repository, image), or ``NotFound``."""
    tag, digest = parse_reference(reference)
    if tag is not None:
        digest = content_q.tag_digest(conn, ref.repository_id, ref.image, tag)
    record = content_q.get_manifest(conn, ref.repository_id, ref.image, digest) if digest else None
    if record is None:
        raise NotFound(f"no manifest {reference!r} in {ref.name}")
    return record


@dataclass(frozen=True, slots=True)
class PropertiesView:
    repo: str
    image: str
    digest: str
    properties: Values


class PropertyService:
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

    def _resolve(self, principal: Principal, repo: str, image: str, action: Action) -> ImageRef:
        ref = self._names.image_in(repo, image)
        ref.require_local()
        if not self._evaluator.allowed(principal, ref.repository.key, ref.image, action):
            verb = "read" if action is Action.READ else "change"
            raise Denied(
                f"{principal.name} may not {verb} properties in {ref.name}: that needs the"
                f" {action.value} permission"
            )
        return ref

    def get(self, principal: Principal, repo: str, image: str, reference: str) -> PropertiesView:
        ref = self._resolve(principal, repo, image, Action.READ)
        with self._db.read() as conn:
            record = find_manifest(conn, ref, reference)
            return PropertiesView(
                ref.repository.key, ref.image, record.digest, props_q.get(conn, record.id)
            )

    def replace(
        self, actor: Actor, repo: str, image: str, reference: str, values: Mapping[str, list[str]]
    ) -> PropertiesView:
        """Every user property becomes exactly ``values`` (system ones stay)."""
        clean = validate_values(values)
        return self._change(
            actor, repo, image, reference, lambda c, m: props_q.replace_user(c, m, clean)
        )

    def patch(
        self,
        actor: Actor,
        repo: str,
        image: str,
        reference: str,
        changes: Mapping[str, list[str] | None],
    ) -> PropertiesView:
        """Set the keys given values; remove the keys given ``None``."""
        gone = [validate_key(k) for k, v in changes.items() if v is None]
        system = [k for k in gone if k.startswith(SYSTEM_PREFIX)]
        if system:
            raise Denied(f"{system[0]!r} is a system property ({SYSTEM_PREFIX}*), read-only")
        clean = validate_values({k: v for k, v in changes.items() if v is not None})

        def apply(conn: Connection, manifest_id: int) -> None:
            props_q.delete_keys(conn, manifest_id, gone)
            props_q.set_keys(conn, manifest_id, clean)

        return self._change(actor, repo, image, reference, apply)

    def add(
        self, actor: Actor, repo: str, image: str, reference: str, values: Mapping[str, list[str]]
    ) -> PropertiesView:
        """Add ``values`` to their keys, keeping the values already there. Read and written in
        one transaction with the manifest locked: two callers adding at once both count."""
        clean = validate_values(values)

        def apply(conn: Connection, manifest_id: int) -> None:
            current = props_q.get(conn, manifest_id)
            merged = {k: list(dict.fromkeys([*current.get(k, []), *vs])) for k, vs in clean.items()}
            props_q.set_keys(conn, manifest_id, validate_values(merged))

        return self._change(actor, repo, image, reference, apply)

    def remove(
        self, actor: Actor, repo: str, image: str, reference: str, keys: list[str] | None
    ) -> PropertiesView:
        """Remove the named keys, or (no keys) every user property."""
        if not keys:
            return self._change(
                actor, repo, image, reference, lambda c, m: props_q.replace_user(c, m, {})
            )
        return self.patch(actor, repo, image, reference, dict.fromkeys(keys))

    def _change(
        self,
        actor: Actor,
        repo: str,
        image: str,
        reference: str,
        apply: Callable[[Connection, int], None],
    ) -> PropertiesView:
        ref = self._resolve(actor.principal, repo, image, Action.ANNOTATE)
        tag, _ = parse_reference(reference)
        with self._db.transaction() as conn:
            record = find_manifest(conn, ref, reference)
            props_q.lock_manifest(conn, record.id)
            apply(conn, record.id)
            current = check_total(conn, record.id, f"{ref.name}@{record.digest}")
            subject = f"{ref.name}:{tag}" if tag else f"{ref.name}@{record.digest}"
            data = {
                "repository": ref.repository.key,
                "image": ref.image,
                "tag": tag,
                "digest": record.digest,
                "media_type": record.media_type,
                "size": record.size,
                "actor": actor.name,
                "properties": current,
            }
            promotion_q.publish(conn, "properties.changed", subject, data)
            self._audit.record(
                conn, actor, "properties.changed", f"{ref.name}@{record.digest}", current
            )
        return PropertiesView(ref.repository.key, ref.image, record.digest, current)

"""What arrives with a promotion: the closure of a manifest in its source image.

Owns: walking index children, blob references and referrers (recursively) over the rows of one
(repository, image), with the properties of every manifest found and the artifact types of the
referrers a gate may ask for. Reads only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import Connection

from tidegate.db import content as content_q
from tidegate.db import promotions as promotion_q
from tidegate.db import properties as props_q
from tidegate.db.records import ManifestRecord
from tidegate.errors import Conflict
from tidegate.services.names import ImageRef

Values = dict[str, list[str]]


@dataclass(slots=True)
class Closure:
    """What arrives: manifests (root first), the blobs they use, which are referrers, the
    properties of each, and the artifact types of the referrers the gate may ask for."""

    manifests: dict[str, ManifestRecord] = field(default_factory=dict)
    refs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    blobs: set[str] = field(default_factory=set)
    referrers: set[str] = field(default_factory=set)
    referrer_types: set[str] = field(default_factory=set)
    properties: dict[str, Values] = field(default_factory=dict)
    pushed_by: dict[str, str | None] = field(default_factory=dict)


def walk(conn: Connection, src: ImageRef, root: ManifestRecord, referrers: bool) -> Closure:
    """The closure of ``root`` in ``src``: index children recursively, the blobs they use,
    and (with ``referrers``) every referrer of any manifest in it, recursively. ``Conflict``
    when ``src`` lacks a manifest of it (nothing can have been written yet)."""
    found = Closure()
    missing: list[str] = []
    queue: deque[tuple[str, bool]] = deque([(root.digest, False)])
    while queue:
        digest, is_referrer = queue.popleft()
        if digest in found.manifests:
            continue
        record = content_q.get_manifest(conn, src.repository_id, src.image, digest)
        if record is None:
            missing.append(digest)
            continue
        found.manifests[digest] = record
        if is_referrer:
            found.referrers.add(digest)
        found.refs[digest] = promotion_q.references(conn, record.id)
        for ref, kind in found.refs[digest]:
            if kind == "manifest":
                queue.append((ref, is_referrer))
            else:
                found.blobs.add(ref)
        for attached in content_q.referrers(conn, src.repository_id, src.image, digest, None):
            if not is_referrer and attached.artifact_type:
                found.referrer_types.add(attached.artifact_type)
            if referrers:
                queue.append((attached.digest, True))
    if missing:
        raise Conflict(
            f"{src.name}@{root.digest} is incomplete: {src.name} does not hold "
            + ", ".join(missing)
            + "; nothing was promoted",
            detail={"missing": missing},
        )
    by_id = props_q.get_many(conn, [m.id for m in found.manifests.values()])
    found.properties = {d: by_id[m.id] for d, m in found.manifests.items() if by_id[m.id]}
    pushers = promotion_q.pushed_by(conn, [m.id for m in found.manifests.values()])
    found.pushed_by = {d: pushers.get(m.id) for d, m in found.manifests.items()}
    return found

"""The search query: tagged (and top-level untagged) manifests across repositories, filtered
by image and tag patterns, property conditions and times, in a stable order with a keyset
cursor. Patterns arrive as SQL ``LIKE`` prefilters; the exact glob is applied by the caller.
No function here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, literal, not_, or_, select, tuple_

from tidegate.db.properties import has_condition
from tidegate.db.tables import manifest_references, manifests, promotions, repositories, tags


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    key: str
    value: str | None  # None: presence only
    negate: bool  # True: must not hold


@dataclass(frozen=True, slots=True)
class SearchFilter:
    repository_ids: Sequence[int]
    image_like: str | None = None
    tag_like: str | None = None
    tagged_only: bool = False
    properties: Sequence[PropertyFilter] = ()
    pushed_after: datetime | None = None
    pushed_before: datetime | None = None
    promoted_after: datetime | None = None
    promoted_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchRow:
    manifest_id: int
    repository: str
    image: str
    tag: str | None
    digest: str
    media_type: str
    size: int
    pushed_by: str | None
    pushed_at: datetime

    @property
    def cursor(self) -> tuple[str, str, str, str]:
        return (self.repository, self.image, self.tag or "", self.digest)


def _bytewise(conn: Connection, column: Any) -> Any:
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def search(
    conn: Connection,
    where: SearchFilter,
    after: tuple[str, str, str, str] | None,
    limit: int,
) -> list[SearchRow]:
    tag_name = func.coalesce(tags.c.name, literal(""))
    join = manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
    tag_on = and_(
        tags.c.repository_id == manifests.c.repository_id,
        tags.c.image == manifests.c.image,
        tags.c.digest == manifests.c.digest,
    )
    join = join.join(tags, tag_on, isouter=not where.tagged_only)
    order = (
        _bytewise(conn, repositories.c.key),
        _bytewise(conn, manifests.c.image),
        _bytewise(conn, tag_name),
        _bytewise(conn, manifests.c.digest),
    )
    query = select(
        manifests.c.id,
        repositories.c.key,
        manifests.c.image,
        tags.c.name,
        manifests.c.digest,
        manifests.c.media_type,
        manifests.c.size,
        manifests.c.pushed_by,
        manifests.c.created_at,
    ).select_from(join)
    conditions: list[Any] = [manifests.c.repository_id.in_(list(where.repository_ids))]
    if where.image_like:
        conditions.append(manifests.c.image.like(where.image_like, escape="\\"))
    if where.tag_like:
        conditions.append(tags.c.name.like(where.tag_like, escape="\\"))
    if not where.tagged_only:
        # untagged manifests only when they stand alone: not an index's child, not a referrer
        parent = manifests.alias("parent")
        child = (
            select(manifest_references.c.manifest_id)
            .join(parent, parent.c.id == manifest_references.c.manifest_id)
            .where(
                manifest_references.c.digest == manifests.c.digest,
                manifest_references.c.kind == "manifest",
                parent.c.repository_id == manifests.c.repository_id,
                parent.c.image == manifests.c.image,
            )
            .exists()
        )
        conditions.append(
            or_(tags.c.name.is_not(None), and_(manifests.c.subject.is_(None), not_(child)))
        )
    for prop in where.properties:
        clause = has_condition(manifests.c.id, prop.key, prop.value)
        conditions.append(not_(clause) if prop.negate else clause)
    if where.pushed_after:
        conditions.append(manifests.c.created_at >= where.pushed_after)
    if where.pushed_before:
        conditions.append(manifests.c.created_at < where.pushed_before)
    if where.promoted_after or where.promoted_before:
        arrival = [
            promotions.c.target == repositories.c.key,
            promotions.c.target_image == manifests.c.image,
            promotions.c.digest == manifests.c.digest,
            promotions.c.outcome == "promoted",
        ]
        if where.promoted_after:
            arrival.append(promotions.c.created_at >= where.promoted_after)
        if where.promoted_before:
            arrival.append(promotions.c.created_at < where.promoted_before)
        conditions.append(select(promotions.c.id).where(*arrival).exists())
    if after is not None:
        conditions.append(tuple_(*order) > tuple_(*(literal(v) for v in after)))
        # the same bound, column by column, so an index can seek to it instead of joining
        # and comparing every row before the cursor again on every page
        key, image = order[0], order[1]
        conditions.append(key >= after[0])
        conditions.append(or_(key > after[0], image >= after[1]))
    query = query.where(*conditions).order_by(*order).limit(limit)
    return [SearchRow(*row) for row in conn.execute(query)]

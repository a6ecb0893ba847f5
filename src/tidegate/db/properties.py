"""Queries on properties (key/values of a manifest row). No function here commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Exists, and_, delete, insert, not_, select

from tidegate.db.tables import manifests, properties

SYSTEM_PREFIX = "tidegate."


def get(conn: Connection, manifest_id: int) -> dict[str, list[str]]:
    rows = conn.execute(
        select(properties.c.key, properties.c.value)
        .where(properties.c.manifest_id == manifest_id)
        .order_by(properties.c.key, properties.c.id)
    )
    result: dict[str, list[str]] = {}
    for key, value in rows:
        result.setdefault(key, []).append(value)
    return result


def get_many(conn: Connection, manifest_ids: Iterable[int]) -> dict[int, dict[str, list[str]]]:
    ids = list(set(manifest_ids))
    result: dict[int, dict[str, list[str]]] = {i: {} for i in ids}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(properties.c.manifest_id, properties.c.key, properties.c.value)
            .where(properties.c.manifest_id.in_(ids[start : start + 500]))
            .order_by(properties.c.key, properties.c.id)
        )
        for manifest_id, key, value in rows:
            result[manifest_id].setdefault(key, []).append(value)
    return result


def _insert(conn: Connection, manifest_id: int, values: Mapping[str, Iterable[str]]) -> None:
    rows = [
        {"manifest_id": manifest_id, "key": key, "value": value}
        for key, vals in values.items()
        for value in dict.fromkeys(vals)
    ]
    if rows:
        conn.execute(insert(properties), rows)


def set_keys(conn: Connection, manifest_id: int, values: Mapping[str, Iterable[str]]) -> None:
    """Each given key gets exactly the given values (others keys untouched)."""
    delete_keys(conn, manifest_id, list(values))
    _insert(conn, manifest_id, values)


def delete_keys(conn: Connection, manifest_id: int, keys: list[str]) -> None:
    if keys:
        conn.execute(
            delete(properties).where(
                properties.c.manifest_id == manifest_id, properties.c.key.in_(keys)
            )
        )


def replace_user(conn: Connection, manifest_id: int, values: Mapping[str, Iterable[str]]) -> None:
    """Every non-system property becomes exactly ``values``."""
    conn.execute(
        delete(properties).where(
            properties.c.manifest_id == manifest_id,
            not_(properties.c.key.startswith(SYSTEM_PREFIX, autoescape=True)),
        )
    )
    _insert(conn, manifest_id, values)


def has_condition(manifest_id_column: Any, key: str, value: str | None) -> Exists:
    """An EXISTS clause: the manifest has ``key`` (with ``value`` when given)."""
    where = [properties.c.manifest_id == manifest_id_column, properties.c.key == key]
    if value is not None:
        where.append(properties.c.value == value)
    return select(properties.c.id).where(and_(*where)).exists()


def lock_manifest(conn: Connection, manifest_id: int) -> None:
    """Serialise property changes of one manifest row (PostgreSQL: a row lock until commit;
    SQLite write transactions are serialised already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(manifests.c.id).where(manifests.c.id == manifest_id).with_for_update())

"""The catalog: every image the caller may read, across repositories, sorted and paginated.

Local repositories list the images they hold; a virtual repository lists, as
``<virtual>/<image>``, the images its members hold that the caller may read through it (read
on the virtual and on the member, as a pull checks). Equal names from several members are one
entry (the first member wins; the name is the same). Remote members add the images of their
kind's listing when it has one; today they add nothing.
"""

from __future__ import annotations

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import content as q
from tidegate.db.records import RepositoryRecord
from tidegate.services.names import NameResolver

_MAX_DEPTH = 8


class CatalogService:
    def __init__(self, db: Database, names: NameResolver, evaluator: PermissionEvaluator) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator

    def list(self, principal: Principal, n: int | None, last: str | None) -> list[str]:
        repos = {r.key: r for r in self._names.repositories()}
        local = {r.id: r.key for r in repos.values() if r.kind == "local"}
        with self._db.read() as conn:
            names = q.list_images(conn, local, None, None)
        held: dict[str, set[str]] = {}
        for name in names:
            key, image = name.split("/", 1)
            held.setdefault(key, set()).add(image)
        readable: set[str] = set()
        for key, images in held.items():
            readable.update(
                f"{key}/{image}"
                for image in images
                if self._evaluator.allowed(principal, key, image, Action.READ)
            )
        for record in repos.values():
            if record.kind == "virtual":
                images = self._through(principal, record, repos, held, 0)
                readable.update(
                    f"{record.key}/{image}"
                    for image in images
                    if self._evaluator.allowed(principal, record.key, image, Action.READ)
                )
        listed = sorted(name for name in readable if last is None or name > last)
        return listed[:n] if n is not None else listed

    def _through(
        self,
        principal: Principal,
        virtual: RepositoryRecord,
        repos: dict[str, RepositoryRecord],
        held: dict[str, set[str]],
        depth: int,
    ) -> set[str]:
        """The images a virtual repository's members hold that the caller may read there."""
        if depth > _MAX_DEPTH:
            return set()
        members = virtual.options.get("members")
        images: set[str] = set()
        for key in members if isinstance(members, list) else []:
            member = repos.get(key) if isinstance(key, str) else None
            if member is None:
                continue
            if member.kind == "local":
                found = held.get(member.key, set())
            elif member.kind == "virtual":
                found = self._through(principal, member, repos, held, depth + 1)
            else:
                continue
            images.update(
                image
                for image in found
                if self._evaluator.allowed(principal, member.key, image, Action.READ)
            )
        return images

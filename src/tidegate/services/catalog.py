"""The catalog: every image the caller may read, across repositories, sorted and paginated."""

from __future__ import annotations

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.db import Database
from tidegate.db import content as q
from tidegate.services.names import NameResolver


class CatalogService:
    def __init__(self, db: Database, names: NameResolver, evaluator: PermissionEvaluator) -> None:
        self._db = db
        self._names = names
        self._evaluator = evaluator

    def list(self, principal: Principal, n: int | None, last: str | None) -> list[str]:
        repos = {r.id: r.key for r in self._names.repositories() if r.kind == "local"}
        with self._db.read() as conn:
            names = q.list_images(conn, repos, last, None)
        readable = []
        for name in names:
            key, image = name.split("/", 1)
            if self._evaluator.allowed(principal, key, image, Action.READ):
                readable.append(name)
        return readable[:n] if n is not None else readable

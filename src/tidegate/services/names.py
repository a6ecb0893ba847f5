"""Resolving a wire name ``<repo-key>/<image>`` to a repository and an image."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tidegate.db import Database
from tidegate.db import repositories as repo_queries
from tidegate.db.records import RepositoryRecord
from tidegate.errors import Denied, NameInvalid, NameUnknown, Unsupported
from tidegate.oci.names import split_name


@dataclass(frozen=True, slots=True)
class ImageRef:
    repository: RepositoryRecord
    image: str

    @property
    def name(self) -> str:
        return f"{self.repository.key}/{self.image}"

    @property
    def repository_id(self) -> int:
        return self.repository.id

    def option(self, key: str, default: object = None) -> object:
        return self.repository.options.get(key, default)

    def require_local(self) -> None:
        if self.repository.kind != "local":
            raise Unsupported(
                f"repository {self.repository.key!r} is a {self.repository.kind} repository;"
                " this Tidegate version serves content from local repositories only"
            )

    def require_push_allowed(self) -> None:
        self.require_local()
        if not self.option("allow_push", True):
            raise Denied(
                f"repository {self.repository.key!r} does not accept pushes: content arrives"
                " only by promotion"
            )


class NameResolver:
    """Maps wire names to repositories. Repository rows change rarely: they are cached."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, RepositoryRecord] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, RepositoryRecord]:
        with self._db.read() as conn:
            records = {r.key: r for r in repo_queries.list_all(conn)}
        with self._lock:
            self._cache = records
        return records

    def repositories(self) -> list[RepositoryRecord]:
        return sorted(self._load().values(), key=lambda r: r.key)

    def repository(self, key: str) -> RepositoryRecord | None:
        record = self._cache.get(key)
        if record is None:
            record = self._load().get(key)
        return record

    def resolve(self, name: str) -> ImageRef:
        key, image = split_name(name)
        record = self.repository(key)
        if record is None:
            known = ", ".join(sorted(self._cache)) or "none"
            raise NameUnknown(
                f"no repository {key!r}: names start with a repository key"
                f" (HOST/<repository>/<image>); known repositories: {known}"
            )
        if not image:
            raise NameInvalid(
                f"{name!r} names a repository but no image: use {key}/<image>, e.g. {key}/app"
            )
        ref = ImageRef(record, image)
        ref.require_local()  # remote and virtual repositories are configured, not served yet
        return ref

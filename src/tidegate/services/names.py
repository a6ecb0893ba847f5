"""Resolving a wire name ``<repo-key>/<image>`` to a repository and an image."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tidegate.db import Database
from tidegate.db import repositories as repo_queries
from tidegate.db.records import RepositoryRecord
from tidegate.errors import Denied, NameInvalid, NameUnknown, Unsupported
from tidegate.oci.names import split_name

_REFRESH = 1.0  # cached rows are reloaded at most this old: another process's changes show


def member_order(options: Mapping[str, object]) -> list[str]:
    """The members of a virtual repository in resolution order: ``default_deploy`` first,
    then the others as listed."""
    raw = options.get("members")
    members = [m for m in raw if isinstance(m, str)] if isinstance(raw, list) else []
    first = options.get("default_deploy")
    if isinstance(first, str) and first in members:
        return [first, *(m for m in members if m != first)]
    return members


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
        if self.repository.kind == "virtual":
            members = member_order(self.repository.options)
            raise Unsupported(
                f"repository {self.repository.key!r} is a virtual repository: it holds nothing"
                " itself, so deletes, promotions and properties go to the member repository"
                f" that holds the image (members in resolution order:"
                f" {', '.join(members) or 'none'}), e.g."
                f" {members[0] if members else '<member>'}/{self.image}"
            )
        if self.repository.kind != "local":
            raise Unsupported(
                f"repository {self.repository.key!r} is a {self.repository.kind} repository:"
                " this operation needs a local repository (content is pushed to, promoted"
                " between and annotated in local repositories)"
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

    def __init__(self, db: Database, default_repository: str = "docker") -> None:
        self._db = db
        self.default_repository = default_repository
        self._cache: dict[str, RepositoryRecord] = {}
        self._lock = threading.Lock()
        self._loaded_at = -_REFRESH

    def _load(self) -> dict[str, RepositoryRecord]:
        loaded_at = time.monotonic()
        with self._db.read() as conn:
            records = {r.key: r for r in repo_queries.list_all(conn)}
        with self._lock:
            self._cache = records
            self._loaded_at = loaded_at
        return records

    def repositories(self) -> list[RepositoryRecord]:
        return sorted(self._load().values(), key=lambda r: r.key)

    def repository(self, key: str) -> RepositoryRecord | None:
        """The repository ``key`` from the cached rows. They are reloaded when older than a
        second (one query a second at most, however many names miss: names routed to
        ``default_repository`` miss on every request), so changes made by another process
        show within a second; this process reloads at once after its own changes."""
        if time.monotonic() - self._loaded_at > _REFRESH:
            self._load()
        return self._cache.get(key)

    def locate(self, name: str) -> tuple[str, str]:
        """``(repository key, image)`` of a wire name (NameInvalid when malformed). A name whose
        first component is not a repository key belongs to ``default_repository`` whole
        (PRODUCT.md §2.4: ``HOST/nginx`` is ``docker/nginx``)."""
        key, image = split_name(name)
        if self.repository(key) is None:
            default = self.repository(self.default_repository)
            if default is not None:
                return default.key, name
        return key, image

    def permission_subject(self, name: str, wire_action: str) -> tuple[str, str]:
        """Whose permission decides ``wire_action`` on a wire name: the repository the name
        routes to; for a push through a virtual repository, its ``default_deploy`` member
        (which receives the content)."""
        key, image = self.locate(name)
        record = self.repository(key)
        if wire_action == "push" and record is not None and record.kind == "virtual":
            target = record.options.get("default_deploy")
            if isinstance(target, str):
                return target, image
        return key, image

    def resolve(self, name: str) -> ImageRef:
        """A wire name, routed as ``locate`` does."""
        return self.image_in(*self.locate(name), name=name)

    def image_in(self, key: str, image: str, name: str | None = None) -> ImageRef:
        """``image`` in the repository ``key``, exactly (no default routing): for the
        management API, whose callers name the repository on its own."""
        name = name if name is not None else f"{key}/{image}"
        split_name(f"{key}/{image}" if image else key)
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
        return ImageRef(record, image)

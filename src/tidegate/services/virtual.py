"""Virtual repositories: one address over an ordered list of member repositories.

Owns: resolution order (the ``default_deploy`` member first, then the other members as
listed), skipping members the caller may not ``read`` (silently: no existence leak), merging
tags lists and referrers, routing pushes to ``default_deploy``, and the explanation of one
resolution (``explain``, for ``GET /api/v1/repositories/{key}/resolve``).

A member is reached only through the ``ContentRouter`` (its own kind answers), so local,
remote and nested virtual members work alike. A member that answers "not found" or
``UNSUPPORTED`` (a kind this build does not serve) does not hold the content: the next one is
asked. Any other error of a member (an upstream that is down) is remembered; when no member
serves the content, that error is raised instead of "unknown" so the caller learns why.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Action, Principal
from tidegate.errors import (
    BlobUnknown,
    Denied,
    ManifestUnknown,
    NameUnknown,
    TidegateError,
    Unsupported,
)
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest
from tidegate.services.blobs import BlobInfo
from tidegate.services.content import BlobStream, ContentRouter
from tidegate.services.manifests import StoredManifest
from tidegate.services.names import ImageRef, NameResolver, member_order

MAX_DEPTH = 8  # nested virtuals; configuration refuses cycles, this guards the rest
_MISSES = (ManifestUnknown, BlobUnknown, NameUnknown, Unsupported)

T = TypeVar("T")
_DEPTH: ContextVar[int] = ContextVar("virtual_depth", default=0)


@contextmanager
def _nested(ref: ImageRef) -> Iterator[None]:
    """One level deeper into virtual members (a cycle that slipped past validation, e.g.
    rows edited by hand, ends here instead of recursing forever)."""
    depth = _DEPTH.get() + 1
    if depth > MAX_DEPTH:
        raise Unsupported(
            f"virtual repository {ref.repository.key!r} nests more than {MAX_DEPTH} levels of"
            " virtual members (is there a cycle?)"
        )
    token = _DEPTH.set(depth)
    try:
        yield
    finally:
        _DEPTH.reset(token)


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    """What one member answered during a resolution (``explain``)."""

    member: str
    kind: str
    readable: bool
    outcome: str  # "served" | "not found" | "skipped: no read permission" | "unsupported" | error
    digest: str | None = None


class VirtualContent:
    """The ``Content`` of kind ``virtual``."""

    def __init__(
        self, router: ContentRouter, names: NameResolver, evaluator: PermissionEvaluator
    ) -> None:
        self._router = router
        self._names = names
        self._evaluator = evaluator

    # --- members -------------------------------------------------------------------------
    def _members(self, principal: Principal, ref: ImageRef) -> list[tuple[ImageRef, bool]]:
        """``(member ref, readable)`` in resolution order; unknown keys are left out."""
        out = []
        for key in member_order(ref.repository.options):
            record = self._names.repository(key)
            if record is None:
                continue
            readable = self._evaluator.allowed(principal, key, ref.image, Action.READ)
            out.append((ImageRef(record, ref.image), readable))
        return out

    async def _first(
        self,
        principal: Principal,
        ref: ImageRef,
        ask: Callable[[ImageRef], Awaitable[T]],
        missing: TidegateError,
    ) -> T:
        failure: TidegateError | None = None
        with _nested(ref):
            for member, readable in self._members(principal, ref):
                if not readable:
                    continue
                try:
                    return await ask(member)
                except _MISSES:
                    continue
                except TidegateError as exc:
                    failure = failure or exc
        raise failure or missing

    # --- reads ---------------------------------------------------------------------------
    async def manifest(
        self, principal: Principal, ref: ImageRef, reference: str, head: bool
    ) -> StoredManifest:
        async def ask(member: ImageRef) -> StoredManifest:
            return await self._router.of(member).manifest(principal, member, reference, head)

        return await self._first(
            principal,
            ref,
            ask,
            ManifestUnknown(
                f"manifest {reference!r} of {ref.image!r} is not in virtual repository"
                f" {ref.repository.key!r}"
            ),
        )

    async def blob(
        self, principal: Principal, ref: ImageRef, digest: Digest, head: bool
    ) -> BlobInfo | BlobStream:
        async def ask(member: ImageRef) -> BlobInfo | BlobStream:
            return await self._router.of(member).blob(principal, member, digest, head)

        missing = BlobUnknown(
            f"blob {digest} of {ref.image!r} is not in virtual repository {ref.repository.key!r}"
        )
        try:
            return await self._first(principal, ref, ask, missing)
        except TidegateError as exc:
            # A blob HEAD is how every client asks "must I upload this layer?" before a push:
            # a member that cannot answer (Docker Hub down behind ``hub``) must not fail a push
            # through the virtual address. No member served it, so it is not here: 404.
            if head and exc is not missing:
                raise missing from None
            raise

    async def tags(
        self,
        principal: Principal,
        ref: ImageRef,
        n: int | None,
        last: str | None,
    ) -> list[str]:
        merged: set[str] = set()
        found = False
        failure: TidegateError | None = None
        with _nested(ref):
            for member, readable in self._members(principal, ref):
                if not readable:
                    continue
                try:
                    tags = await self._router.of(member).tags(principal, member, None, last)
                except _MISSES:
                    continue
                except TidegateError as exc:
                    failure = failure or exc
                    continue
                found = True
                merged.update(tags)
        if not found:
            raise failure or NameUnknown(
                f"no image {ref.image!r} in virtual repository {ref.repository.key!r}"
            )
        ordered = sorted(t for t in merged if last is None or t > last)
        return ordered[:n] if n is not None else ordered

    async def referrers(
        self,
        principal: Principal,
        ref: ImageRef,
        subject: Digest,
        artifact_type: str | None,
    ) -> bytes:
        seen: set[str] = set()
        manifests: list[object] = []
        with _nested(ref):
            for member, readable in self._members(principal, ref):
                if not readable:
                    continue
                try:
                    body = await self._router.of(member).referrers(
                        principal, member, subject, artifact_type
                    )
                except TidegateError:
                    continue  # a member that cannot answer adds nothing
                for entry in json.loads(body).get("manifests") or []:
                    digest = entry.get("digest") if isinstance(entry, dict) else None
                    if isinstance(digest, str) and digest not in seen:
                        seen.add(digest)
                        manifests.append(entry)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        return json.dumps(index, separators=(",", ":")).encode()

    # --- writes --------------------------------------------------------------------------
    def push_target(self, principal: Principal, ref: ImageRef) -> ImageRef:
        key = ref.repository.key
        target = ref.repository.options.get("default_deploy")
        if not isinstance(target, str) or not target:
            raise Denied(
                f"virtual repository {key!r} has no default_deploy member, so it takes no"
                " pushes: push to one of its member repositories"
                f" ({', '.join(member_order(ref.repository.options)) or 'none'})"
            )
        record = self._names.repository(target)
        if record is None:
            raise Unsupported(
                f"default_deploy {target!r} of virtual repository {key!r} does not exist"
            )
        member = ImageRef(record, ref.image)
        with _nested(ref):
            return self._router.of(member).push_target(principal, member)

    # --- the resolve API -----------------------------------------------------------------
    async def explain(
        self, principal: Principal, ref: ImageRef, reference: str
    ) -> list[MemberOutcome]:
        """Each member in resolution order and what it answered for the manifest
        ``reference``; the first ``served`` one is what a pull gets. Members after it are not
        asked (``not asked``)."""
        outcomes: list[MemberOutcome] = []
        served = False
        for member, readable in self._members(principal, ref):
            key, kind = member.repository.key, member.repository.kind
            if not readable:
                outcomes.append(MemberOutcome(key, kind, False, "skipped: no read permission"))
                continue
            if served:
                outcomes.append(MemberOutcome(key, kind, True, "not asked"))
                continue
            try:
                with _nested(ref):
                    content = self._router.of(member)
                    stored = await content.manifest(principal, member, reference, True)
            except (ManifestUnknown, NameUnknown):
                outcomes.append(MemberOutcome(key, kind, True, "not found"))
            except Unsupported as exc:
                outcomes.append(MemberOutcome(key, kind, True, f"unsupported: {exc.message}"))
            except TidegateError as exc:
                outcomes.append(MemberOutcome(key, kind, True, f"{exc.code}: {exc.message}"))
            else:
                served = True
                outcomes.append(MemberOutcome(key, kind, True, "served", stored.digest))
        return outcomes

"""What ``/v2`` serves, per repository kind: the one seam between the wire and the kinds.

Owns: choosing the implementation of a repository's kind (``local``: the stores;
``remote``: the pull-through cache; ``virtual``: resolution over members) and the contract
they share. Handlers call the router; they never branch on a repository's kind.

A kind answers reads (manifest, blob, tags, referrers) and names the repository that
receives writes made through its address (``push_target``): a local repository itself,
a virtual repository's ``default_deploy`` member; a remote refuses with ``UNSUPPORTED``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import anyio.to_thread

from tidegate.auth.principals import Principal
from tidegate.errors import Unsupported
from tidegate.oci.digest import Digest
from tidegate.services.blobs import BlobInfo, BlobService
from tidegate.services.manifests import ManifestService, StoredManifest
from tidegate.services.names import ImageRef


@dataclass(frozen=True, slots=True)
class BlobStream:
    """A blob whose bytes are still arriving (a remote fetch in flight): the whole blob, in
    order. If the bytes turn out wrong the iterator raises and the response is cut short, so
    the client's own digest check fails too and nothing wrong is kept."""

    digest: Digest
    size: int
    chunks: AsyncIterator[bytes]


class Content(Protocol):
    """One repository kind's answers to the wire's reads (and where its writes go)."""

    async def manifest(
        self, principal: Principal, ref: ImageRef, reference: str, head: bool
    ) -> StoredManifest:
        """The manifest ``reference`` (tag or digest). Raises ManifestUnknown."""
        ...

    async def blob(
        self, principal: Principal, ref: ImageRef, digest: Digest, head: bool
    ) -> BlobInfo | BlobStream:
        """A stored blob (``BlobInfo``: the wire sends it, or a Range of it) or bytes still
        arriving (``BlobStream``). Raises BlobUnknown."""
        ...

    async def tags(
        self, principal: Principal, ref: ImageRef, n: int | None, last: str | None
    ) -> list[str]:
        """Sorted tags after ``last``, at most ``n``. Raises NameUnknown."""
        ...

    async def referrers(
        self, principal: Principal, ref: ImageRef, subject: Digest, artifact_type: str | None
    ) -> bytes:
        """The referrers index of ``subject`` (an empty index when there are none)."""
        ...

    def push_target(self, principal: Principal, ref: ImageRef) -> ImageRef:
        """The local repository that receives a push made to ``ref``'s address."""
        ...


class LocalContent:
    """A local repository: what the stores hold, nothing else."""

    def __init__(self, manifests: ManifestService, blobs: BlobService) -> None:
        self._manifests = manifests
        self._blobs = blobs

    async def manifest(
        self, principal: Principal, ref: ImageRef, reference: str, head: bool
    ) -> StoredManifest:
        return self._manifests.get(ref, reference)  # one indexed read: inline

    async def blob(
        self, principal: Principal, ref: ImageRef, digest: Digest, head: bool
    ) -> BlobInfo | BlobStream:
        return self._blobs.stat(ref, digest)  # one indexed read: inline

    async def tags(
        self, principal: Principal, ref: ImageRef, n: int | None, last: str | None
    ) -> list[str]:
        return await anyio.to_thread.run_sync(self._manifests.tags, ref, n, last)

    async def referrers(
        self, principal: Principal, ref: ImageRef, subject: Digest, artifact_type: str | None
    ) -> bytes:
        return await anyio.to_thread.run_sync(
            self._manifests.referrers, ref, subject, artifact_type
        )

    def push_target(self, principal: Principal, ref: ImageRef) -> ImageRef:
        ref.require_push_allowed()
        return ref


class Unserved:
    """A kind this build does not serve yet: every call answers ``UNSUPPORTED``."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def _refuse(self, ref: ImageRef) -> Unsupported:
        return Unsupported(
            f"repository {ref.repository.key!r} is a {self._kind} repository, which this"
            " Tidegate does not serve"
        )

    async def manifest(
        self, principal: Principal, ref: ImageRef, reference: str, head: bool
    ) -> StoredManifest:
        raise self._refuse(ref)

    async def blob(
        self, principal: Principal, ref: ImageRef, digest: Digest, head: bool
    ) -> BlobInfo | BlobStream:
        raise self._refuse(ref)

    async def tags(
        self, principal: Principal, ref: ImageRef, n: int | None, last: str | None
    ) -> list[str]:
        raise self._refuse(ref)

    async def referrers(
        self, principal: Principal, ref: ImageRef, subject: Digest, artifact_type: str | None
    ) -> bytes:
        raise self._refuse(ref)

    def push_target(self, principal: Principal, ref: ImageRef) -> ImageRef:
        raise self._refuse(ref)


class ContentRouter:
    """Picks the implementation of a repository's kind."""

    def __init__(self, local: Content, kinds: dict[str, Content] | None = None) -> None:
        self._kinds: dict[str, Content] = {"local": local, **(kinds or {})}

    def register(self, kind: str, content: Content) -> None:
        self._kinds[kind] = content

    def of(self, ref: ImageRef) -> Content:
        kind = ref.repository.kind
        return self._kinds.get(kind) or Unserved(kind)

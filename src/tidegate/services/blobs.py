"""Reading, mounting and unlinking blobs in a repository."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tidegate.blobstore import BlobStore
from tidegate.db import Database
from tidegate.db import content as q
from tidegate.db import gc as gc_q
from tidegate.errors import BlobUnknown, Conflict
from tidegate.oci.digest import Digest
from tidegate.services import quotas
from tidegate.services.names import ImageRef, NameResolver


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int
    local_path: str | None


class BlobService:
    def __init__(self, db: Database, store: BlobStore, names: NameResolver) -> None:
        self._db = db
        self._store = store
        self._names = names

    def stat(self, ref: ImageRef, digest: Digest) -> BlobInfo:
        """Size and location of a blob that ``ref`` references. Raises BlobUnknown."""
        size = self._db.fast.linked_blob_size(ref.repository_id, ref.image, str(digest))
        if size is None:
            raise BlobUnknown(f"blob {digest} is unknown to {ref.name}")
        return BlobInfo(digest, size, self._store.local_path(digest))

    def read(self, digest: Digest, offset: int, length: int) -> Iterator[bytes]:
        return self._store.read(digest, offset, length)

    def holders(self, digest: Digest) -> list[ImageRef]:
        """Every (repository, image) that references a blob, for mounts without ``from``."""
        with self._db.read() as conn:
            pairs = q.blob_holders(conn, str(digest))
        by_id = {r.id: r for r in self._names.repositories()}
        return [ImageRef(by_id[rid], image) for rid, image in pairs if rid in by_id]

    def mount(self, ref: ImageRef, digest: Digest, source: ImageRef) -> int | None:
        """Link a blob that ``source`` references into ``ref``; None when it does not."""
        ref.require_push_allowed()
        with quotas.reported(self._db), self._db.transaction() as conn:
            quotas.lock(conn, ref)  # the repository before the digests
            gc_q.lock_digests(conn, [str(digest)])  # a GC sweeping it runs before or after
            size = q.linked_blob_size(conn, source.repository_id, source.image, str(digest))
            if size is None:
                return None  # (or collected meanwhile): the client uploads it instead
            quotas.check(conn, ref, {str(digest): size}, what=f"mounting blob {digest}")
            q.link_blob(conn, ref.repository_id, ref.image, str(digest))
        return size

    def link_served(self, ref: ImageRef, digest: Digest) -> int | None:
        """Link a stored blob into ``ref`` after the caller's source (a virtual address)
        served it to the caller; None when no stored blob has that digest."""
        ref.require_push_allowed()
        with quotas.reported(self._db), self._db.transaction() as conn:
            quotas.lock(conn, ref)  # the repository before the digests
            gc_q.lock_digests(conn, [str(digest)])
            size = q.blob_size(conn, str(digest))
            if size is None or not self._store.exists(digest):
                return None
            quotas.check(conn, ref, {str(digest): size}, what=f"mounting blob {digest}")
            q.link_blob(conn, ref.repository_id, ref.image, str(digest))
        return size

    def delete(self, ref: ImageRef, digest: Digest) -> None:
        """Unlink a blob from ``ref``; the bytes stay until garbage collection."""
        ref.require_local()
        with self._db.transaction() as conn:
            users = q.referencing_manifests(conn, ref.repository_id, ref.image, str(digest), "blob")
            if users:
                raise Conflict(
                    f"blob {digest} is still used by manifest(s) {', '.join(users)} in"
                    f" {ref.name}: delete those first, so no image is left without its layers"
                )
            if not q.unlink_blob(conn, ref.repository_id, ref.image, str(digest)):
                raise BlobUnknown(f"blob {digest} is unknown to {ref.name}")

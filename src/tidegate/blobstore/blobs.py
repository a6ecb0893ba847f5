"""Committed blobs: content-addressed, stored once, immutable."""

from __future__ import annotations

from collections.abc import Iterator

from tidegate.blobstore.layout import blob_path
from tidegate.errors import BlobUnknown, DigestInvalid
from tidegate.oci.digest import Digest
from tidegate.storage import PathNotFound, StorageDriver


class BlobStore:
    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    def exists(self, digest: Digest) -> bool:
        return self.driver.exists(blob_path(digest))

    def size(self, digest: Digest) -> int:
        try:
            return self.driver.stat(blob_path(digest))
        except PathNotFound:
            raise BlobUnknown(f"blob {digest} is not in storage") from None

    def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            return self.driver.read(blob_path(digest), offset, length)
        except PathNotFound:
            raise BlobUnknown(f"blob {digest} is not in storage") from None

    def local_path(self, digest: Digest) -> str | None:
        return self.driver.local_path(blob_path(digest))

    def stored(self) -> Iterator[list[Digest]]:
        """Every blob file on storage, one directory (``blobs/<algorithm>/<xx>``) at a time:
        garbage collection looks for files without a row."""
        for algorithm in self.driver.list("blobs"):
            for prefix in self.driver.list(f"blobs/{algorithm}"):
                found = []
                for name in self.driver.list(f"blobs/{algorithm}/{prefix}"):
                    try:
                        found.append(Digest.parse(f"{algorithm}:{name}"))
                    except DigestInvalid:
                        continue  # not ours (an editor's swap file, a stray temp file)
                yield found

    def modified(self, digest: Digest) -> float | None:
        return self.driver.modified(blob_path(digest))

    def delete(self, digest: Digest) -> None:
        self.driver.delete(blob_path(digest))

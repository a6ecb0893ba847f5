"""The storage driver protocol: a small paths-and-bytes interface every backend implements.

Paths are relative, ``/``-separated, never start with ``/`` and never contain ``..``.
Every method is blocking; callers run them off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class PathNotFound(Exception):
    """Raised by every driver for a path that does not exist (never a backend's own error)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class Writer(Protocol):
    """An append-only handle on one path. Nothing is durable until ``commit``."""

    @property
    def size(self) -> int:
        """Bytes in the file so far, including what was there when the writer was opened."""
        ...

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        ...

    def commit(self) -> None:
        """Make everything written durable (fsync) and close the handle."""
        ...

    def close(self) -> None:
        """Close without the durability guarantee (the data stays for a later append)."""
        ...


class StorageDriver(Protocol):
    name: str

    def stat(self, path: str) -> int:
        """Size in bytes of ``path``. Raises PathNotFound."""
        ...

    def exists(self, path: str) -> bool:
        """True when ``path`` is a file."""
        ...

    def read(
        self, path: str, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Yield the bytes of ``path`` from ``offset`` (``length`` bytes, or to the end).
        Raises PathNotFound before yielding anything."""
        ...

    def read_all(self, path: str) -> bytes:
        """The whole (small) file. Raises PathNotFound."""
        ...

    def writer(self, path: str, append: bool = False) -> Writer:
        """Open ``path`` for writing; with ``append`` keep what is there (create if absent)."""
        ...

    def truncate(self, path: str, size: int) -> None:
        """Cut ``path`` back to its first ``size`` bytes. Raises PathNotFound."""
        ...

    def move(self, src: str, dst: str) -> None:
        """Atomically make ``src`` visible at ``dst`` (replacing it) and durable.
        Raises PathNotFound for a missing ``src``."""
        ...

    def delete(self, path: str) -> None:
        """Remove a file or a whole directory tree. Missing paths are not an error."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Names (not paths) directly below the directory ``prefix``; [] when absent."""
        ...

    def modified(self, path: str) -> float | None:
        """When a file or directory last changed (epoch seconds), or None when absent."""
        ...

    def local_path(self, path: str) -> str | None:
        """An OS path the server may send with zero-copy, or None for remote backends."""
        ...

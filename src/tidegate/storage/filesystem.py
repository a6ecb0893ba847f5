"""Filesystem driver: files under a root directory; durable with fsync and atomic rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from tidegate.storage.base import PathNotFound


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileWriter:
    def __init__(self, path: Path, append: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._file = open(path, "ab" if append else "wb")  # noqa: SIM115 - closed by commit/close
        self._size = self._file.tell()

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)

    def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def close(self) -> None:
        self._file.close()


class FilesystemDriver:
    name = "filesystem"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> Path:
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"unsafe storage path {path!r}")
        return self.root / path

    def stat(self, path: str) -> int:
        try:
            st = self._full(path).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        if not stat.S_ISREG(st.st_mode):
            raise PathNotFound(path)
        return st.st_size

    def exists(self, path: str) -> bool:
        return self._full(path).is_file()

    def read(
        self, path: str, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        try:
            fh = open(self._full(path), "rb")  # noqa: SIM115 - closed in the generator
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise PathNotFound(path) from None
        return self._iterate(fh, offset, length, chunk_size)

    @staticmethod
    def _iterate(fh: object, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
        import io

        assert isinstance(fh, io.BufferedReader)
        with fh:
            fh.seek(offset)
            remaining = length
            while remaining is None or remaining > 0:
                want = chunk_size if remaining is None else min(chunk_size, remaining)
                data = fh.read(want)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data

    def read_all(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise PathNotFound(path) from None

    def writer(self, path: str, append: bool = False) -> FileWriter:
        return FileWriter(self._full(path), append)

    def truncate(self, path: str, size: int) -> None:
        try:
            os.truncate(self._full(path), size)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None

    def move(self, src: str, dst: str) -> None:
        source, target = self._full(src), self._full(dst)
        if not source.exists():
            raise PathNotFound(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)

    def delete(self, path: str) -> None:
        full = self._full(path)
        if full.is_dir():
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                full.unlink()

    def list(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self._full(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def modified(self, path: str) -> float | None:
        try:
            return self._full(path).stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None

    def local_path(self, path: str) -> str | None:
        return str(self._full(path))

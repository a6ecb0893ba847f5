"""In-memory driver, for tests and throwaway instances. Same contract as the filesystem one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from tidegate.storage.base import PathNotFound


class MemoryWriter:
    def __init__(self, driver: MemoryDriver, path: str, append: bool) -> None:
        self._driver = driver
        self._path = path
        with driver.lock:
            if not append or path not in driver.files:
                driver.files[path] = bytearray()
            driver.times[path] = time.time()

    @property
    def size(self) -> int:
        return len(self._driver.files[self._path])

    def write(self, data: bytes) -> None:
        with self._driver.lock:
            self._driver.files[self._path] += data
            self._driver.times[self._path] = time.time()

    def commit(self) -> None:
        return None

    def close(self) -> None:
        return None


class MemoryDriver:
    name = "memory"

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.times: dict[str, float] = {}
        self.lock = threading.Lock()

    def _get(self, path: str) -> bytearray:
        try:
            return self.files[path]
        except KeyError:
            raise PathNotFound(path) from None

    def stat(self, path: str) -> int:
        return len(self._get(path))

    def exists(self, path: str) -> bool:
        return path in self.files

    def read(
        self, path: str, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        data = bytes(self._get(path))
        end = len(data) if length is None else min(len(data), offset + length)
        return (data[i : min(i + chunk_size, end)] for i in range(offset, end, chunk_size))

    def read_all(self, path: str) -> bytes:
        return bytes(self._get(path))

    def writer(self, path: str, append: bool = False) -> MemoryWriter:
        return MemoryWriter(self, path, append)

    def truncate(self, path: str, size: int) -> None:
        with self.lock:
            del self._get(path)[size:]

    def move(self, src: str, dst: str) -> None:
        with self.lock:
            self.files[dst] = self._get(src)
            del self.files[src]
            self.times[dst] = self.times.pop(src, time.time())

    def delete(self, path: str) -> None:
        with self.lock:
            self.files.pop(path, None)
            self.times.pop(path, None)
            prefix = path.rstrip("/") + "/"
            for key in [k for k in self.files if k.startswith(prefix)]:
                del self.files[key]
                self.times.pop(key, None)

    def list(self, prefix: str) -> list[str]:
        base = prefix.rstrip("/") + "/"
        return sorted({k[len(base) :].split("/", 1)[0] for k in self.files if k.startswith(base)})

    def modified(self, path: str) -> float | None:
        if path in self.times:
            return self.times[path]
        prefix = path.rstrip("/") + "/"
        inside = [t for k, t in self.times.items() if k.startswith(prefix)]
        return max(inside) if inside else None

    def local_path(self, path: str) -> str | None:
        return None

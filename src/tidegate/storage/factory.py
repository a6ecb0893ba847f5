"""Pick a storage driver by name from the ``storage`` settings."""

from __future__ import annotations

from pathlib import Path

from tidegate.storage.base import StorageDriver
from tidegate.storage.filesystem import FilesystemDriver
from tidegate.storage.memory import MemoryDriver


def create_driver(driver: str, root: str | Path | None) -> StorageDriver:
    if driver == "filesystem":
        if root is None:
            raise ValueError("the filesystem driver needs a root directory")
        return FilesystemDriver(root)
    if driver == "memory":
        return MemoryDriver()
    raise ValueError(f"unknown storage driver {driver!r}: use filesystem or memory")

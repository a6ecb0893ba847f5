"""Bytes by path, nothing else.

Owns: the storage driver protocol (``base``) and its implementations (filesystem, memory) and
the factory that picks one by name. Knows nothing of digests, repositories, databases or HTTP;
must not import any other Tidegate package except ``tidegate.errors``.
"""

from tidegate.storage.base import PathNotFound, StorageDriver, Writer

__all__ = ["PathNotFound", "StorageDriver", "Writer"]

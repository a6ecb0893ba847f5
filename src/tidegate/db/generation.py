"""A change marker shared by every process on this host: it changes after each committed write.

Hot-path caches (``fastread``) compare it with the value they were filled under and start over
when it differs. Reading it is a plain memory read of a shared mapping: no system call and no
release of the GIL, which is what makes a cache hit cheaper than an indexed SQLite read under
load. Writers change it after their commit, so a reader never serves anything older than the
last change it has seen; a client that got a 201 therefore reads its write back from any worker.
"""

from __future__ import annotations

import mmap
import os
import secrets
from pathlib import Path

_SIZE = 8


class Generation:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)

    def read(self) -> bytes:
        return self._map[:_SIZE]

    def bump(self) -> None:
        """A fresh random value (not a counter: equality is all readers need)."""
        self._map[:_SIZE] = secrets.token_bytes(_SIZE)

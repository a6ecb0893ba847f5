"""Digests: parsing, validation and incremental hashing (sha256 and sha512)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from tidegate.errors import DigestInvalid

_HEX_LEN = {"sha256": 64, "sha512": 128}
# the grammar of any algorithm; Digest.parse also insists on a supported one
DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hasher: ...


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``alg:hex``; raise DigestInvalid with a reason a person understands."""
        m = DIGEST_RE.fullmatch(text or "")
        if not m:
            raise DigestInvalid(f"invalid digest {text!r}: expected <algorithm>:<hex>")
        alg, hx = m.group(1), m.group(2)
        if alg not in _HEX_LEN:
            raise DigestInvalid(
                f"unsupported digest algorithm {alg!r} in {text!r}: use sha256 or sha512"
            )
        if len(hx) != _HEX_LEN[alg] or not re.fullmatch(r"[a-f0-9]+", hx):
            raise DigestInvalid(
                f"invalid digest {text!r}: {alg} needs {_HEX_LEN[alg]} lower-case hex characters"
            )
        return cls(alg, hx)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> Hasher:
        return new_hasher(self.algorithm)


def new_hasher(algorithm: str = "sha256") -> Hasher:
    if algorithm not in _HEX_LEN:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def is_digest(reference: str) -> bool:
    """True when a manifest reference is a digest rather than a tag."""
    return ":" in reference


SUPPORTED_ALGORITHMS = tuple(_HEX_LEN)
EMPTY_SHA256 = Digest.of(b"")

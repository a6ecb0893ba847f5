"""Digests: parsing with reasons a person understands, hashing, the tag/digest distinction."""

from __future__ import annotations

import hashlib

import pytest

from tidegate.errors import DigestInvalid
from tidegate.oci.digest import EMPTY_SHA256, SUPPORTED_ALGORITHMS, Digest, is_digest, new_hasher

SHA256_HEX = hashlib.sha256(b"layer").hexdigest()
SHA512_HEX = hashlib.sha512(b"layer").hexdigest()


@pytest.mark.parametrize(
    ("text", "algorithm", "hex_"),
    [
        (f"sha256:{SHA256_HEX}", "sha256", SHA256_HEX),
        (f"sha512:{SHA512_HEX}", "sha512", SHA512_HEX),
    ],
)
def test_parse_valid_digest(text: str, algorithm: str, hex_: str) -> None:
    digest = Digest.parse(text)

    assert digest.algorithm == algorithm
    assert digest.hex == hex_
    assert str(digest) == text
    assert digest == Digest.parse(text)
    assert hash(digest) == hash(Digest.parse(text))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected <algorithm>:<hex>"),
        ("latest", "expected <algorithm>:<hex>"),
        (SHA256_HEX, "expected <algorithm>:<hex>"),
        ("sha256:", "expected <algorithm>:<hex>"),
        (":" + SHA256_HEX, "expected <algorithm>:<hex>"),
        (f"sha256 :{SHA256_HEX}", "expected <algorithm>:<hex>"),
        (f"sha256:{SHA256_HEX} ", "expected <algorithm>:<hex>"),
        (f"sha256:{SHA256_HEX}\n", "expected <algorithm>:<hex>"),
        (f"SHA256:{SHA256_HEX}", "expected <algorithm>:<hex>"),
        (f"md5:{hashlib.md5(b'x').hexdigest()}", "use sha256 or sha512"),
        (f"sha384:{hashlib.sha384(b'x').hexdigest()}", "use sha256 or sha512"),
        ("sha256:abc", "sha256 needs 64 lower-case hex characters"),
        (f"sha256:{SHA256_HEX}00", "sha256 needs 64 lower-case hex characters"),
        (f"sha256:{SHA256_HEX.upper()}", "sha256 needs 64 lower-case hex characters"),
        ("sha256:" + "g" * 64, "sha256 needs 64 lower-case hex characters"),
        (f"sha512:{SHA256_HEX}", "sha512 needs 128 lower-case hex characters"),
    ],
)
def test_parse_invalid_digest_says_why(text: str, reason: str) -> None:
    with pytest.raises(DigestInvalid) as raised:
        Digest.parse(text)

    assert reason in raised.value.message
    assert raised.value.code == "DIGEST_INVALID"


def test_of_hashes_content() -> None:
    assert Digest.of(b"layer") == Digest("sha256", SHA256_HEX)
    assert Digest.of(b"layer", "sha512") == Digest("sha512", SHA512_HEX)
    assert str(EMPTY_SHA256) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_incremental_hashing_matches_of(algorithm: str) -> None:
    target = Digest.of(b"hello world", algorithm)
    hasher = target.hasher()
    hasher.update(b"hello ")
    snapshot = hasher.copy()
    hasher.update(b"world")

    assert hasher.hexdigest() == target.hex
    assert snapshot.hexdigest() == Digest.of(b"hello ", algorithm).hex


def test_new_hasher_refuses_unsupported_algorithms() -> None:
    assert new_hasher().hexdigest() == EMPTY_SHA256.hex
    with pytest.raises(DigestInvalid, match="md5"):
        new_hasher("md5")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (f"sha256:{SHA256_HEX}", True),
        (f"sha512:{SHA512_HEX}", True),
        ("latest", False),
        ("1.4.0", False),
        ("v1_rc-2", False),
    ],
)
def test_is_digest_tells_digests_from_tags(reference: str, expected: bool) -> None:
    assert is_digest(reference) is expected

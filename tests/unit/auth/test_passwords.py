"""Password hashing (argon2id) and the short-lived cache of verified credentials."""

from __future__ import annotations

from tidegate.auth.passwords import (
    VerifiedCredentialCache,
    generate_password,
    hash_password,
    verify_password,
)


def test_hash_and_verify() -> None:
    stored = hash_password("correct horse")

    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horse ")
    assert not verify_password(stored, "")


def test_same_password_hashes_differently() -> None:
    assert hash_password("same") != hash_password("same")


def test_malformed_stored_hash_never_verifies() -> None:
    assert not verify_password("not-a-hash", "anything")
    assert not verify_password("", "")
    assert not verify_password("$argon2id$v=19$m=65536,t=3,p=4$broken", "anything")


def test_generated_passwords_are_long_and_unique() -> None:
    passwords = {generate_password() for _ in range(20)}

    assert len(passwords) == 20
    assert all(len(p) >= 20 for p in passwords)


def test_cache_remembers_verified_credentials() -> None:
    cache: VerifiedCredentialCache[str] = VerifiedCredentialCache()
    assert cache.get("alice", "secret") is None

    cache.remember("alice", "secret", "alice's principal")

    assert cache.get("alice", "secret") == "alice's principal"
    assert cache.get("alice", "Secret") is None
    assert cache.get("bob", "secret") is None


def test_cache_entries_expire() -> None:
    cache: VerifiedCredentialCache[str] = VerifiedCredentialCache(ttl_seconds=-1)

    cache.remember("alice", "secret", "p")

    assert cache.get("alice", "secret") is None


def test_cache_stays_bounded() -> None:
    cache: VerifiedCredentialCache[str] = VerifiedCredentialCache(max_entries=2)
    cache.remember("a", "1", "pa")
    cache.remember("b", "2", "pb")

    cache.remember("c", "3", "pc")

    assert cache.get("c", "3") == "pc"
    assert cache.get("a", "1") is None

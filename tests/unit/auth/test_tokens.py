"""Registry tokens: what an access or refresh token proves, and every way one is refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from tidegate.auth.principals import Principal
from tidegate.auth.scopes import Scope
from tidegate.auth.tokens import TokenCodec
from tidegate.errors import Unauthorized

SECRET = "s" * 64
SERVICE = "tidegate"
PULL_PUSH = Scope("repository", "dev/app", ("pull", "push"))
CATALOG = Scope("registry", "catalog", ("*",))
ALICE = Principal("user", "alice", id=7)


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(SECRET, SERVICE, ttl_seconds=900)


def refused(codec: TokenCodec, token: str, kind: str = "access") -> str:
    with pytest.raises(Unauthorized) as raised:
        if kind == "access":
            codec.verify_access(token)
        else:
            codec.verify_refresh(token)
    return raised.value.message


def test_access_token_round_trip(codec: TokenCodec) -> None:
    before = int(time.time())
    token, issued_at, ttl = codec.issue_access(ALICE, [PULL_PUSH, CATALOG])

    claims = codec.verify_access(token)

    assert before <= issued_at <= int(time.time())
    assert ttl == 900
    assert claims.principal == ALICE
    assert claims.access == (PULL_PUSH, CATALOG)
    assert claims.expires_at == issued_at + 900
    assert claims.is_admin is False
    assert claims.allows("repository", "dev/app", "push")
    assert claims.allows("registry", "catalog", "*")
    assert not claims.allows("repository", "dev/app", "delete")
    assert not claims.allows("repository", "dev/other", "pull")


def test_access_token_carries_the_admin_flag(codec: TokenCodec) -> None:
    token, _, _ = codec.issue_access(Principal("user", "admin", is_admin=True, id=1), [])

    claims = codec.verify_access(token)

    assert claims.is_admin is True
    assert claims.access == ()


def test_tokens_name_the_principal_and_the_access_token_they_came_from(codec: TokenCodec) -> None:
    """So a revoked access token, or a deleted account, can refuse them on their next use."""
    robot = Principal("service", "ci-bot", id=12, token_id="abcdefghijkl")
    token, _, _ = codec.issue_access(robot, [PULL_PUSH])

    assert codec.verify_access(token).principal == robot
    assert codec.verify_refresh(codec.issue_refresh(robot)) == robot


def test_wildcard_action_allows_every_action(codec: TokenCodec) -> None:
    token, _, _ = codec.issue_access(
        Principal("service", "ci", id=3), [Scope("repository", "dev/app", ("*",))]
    )

    claims = codec.verify_access(token)

    assert claims.allows("repository", "dev/app", "delete")
    assert not claims.allows("repository", "prod/app", "pull")


def test_refresh_token_round_trip(codec: TokenCodec) -> None:
    assert codec.verify_refresh(codec.issue_refresh(ALICE)) == ALICE


def test_a_refresh_token_is_not_an_access_token(codec: TokenCodec) -> None:
    assert "this is not an access token" in refused(codec, codec.issue_refresh(ALICE))


def test_an_access_token_is_not_a_refresh_token(codec: TokenCodec) -> None:
    token, _, _ = codec.issue_access(ALICE, [PULL_PUSH])

    assert "this is not a refresh token" in refused(codec, token, "refresh")


def _forge(token: str, **changes: object) -> str:
    """Change claims but keep the original signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_tampered_token_is_refused(codec: TokenCodec, kind: str) -> None:
    token = codec.issue_access(ALICE, [])[0] if kind == "access" else codec.issue_refresh(ALICE)

    message = refused(codec, _forge(token, sub="admin", adm=True), kind)

    assert "not valid for this registry" in message


def test_token_signed_by_another_deployment_is_refused(codec: TokenCodec) -> None:
    other = TokenCodec("t" * 64, SERVICE, ttl_seconds=900)
    token, _, _ = other.issue_access(ALICE, [PULL_PUSH])

    assert "not valid for this registry" in refused(codec, token)
    assert "not valid for this registry" in refused(codec, other.issue_refresh(ALICE), "refresh")


def test_token_for_another_service_is_refused(codec: TokenCodec) -> None:
    token, _, _ = TokenCodec(SECRET, "other-registry", 900).issue_access(ALICE, [PULL_PUSH])

    assert "not valid for this registry" in refused(codec, token)


def test_unsigned_token_is_refused(codec: TokenCodec) -> None:
    claims = {"iss": "tidegate", "aud": SERVICE, "sub": "admin", "typ": "access", "adm": True}
    token = jwt.encode(claims, key="", algorithm="none")  # "": no key (typed: cryptography)

    assert "not valid for this registry" in refused(codec, token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_garbage_is_refused(codec: TokenCodec, token: str) -> None:
    assert "not valid for this registry" in refused(codec, token)


def test_expired_access_token_is_refused(codec: TokenCodec) -> None:
    expired = TokenCodec(SECRET, SERVICE, ttl_seconds=-60)
    token, _, _ = expired.issue_access(ALICE, [PULL_PUSH])

    assert "expired" in refused(codec, token)


def test_expired_refresh_token_is_refused(codec: TokenCodec) -> None:
    token = codec.issue_refresh(ALICE)
    expired = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False}), "exp": int(time.time()) - 60},
        SECRET,
        algorithm="HS256",
    )

    assert "expired" in refused(codec, expired, "refresh")


@pytest.mark.parametrize(
    "claims",
    [
        {"typ": "access", "access": []},  # no subject
        {"typ": "access", "sub": 42, "access": []},  # subject not a string
        {"typ": "access", "sub": "admin", "access": 7},  # access not a list
    ],
    ids=["no-sub", "int-sub", "int-access"],
)
def test_correctly_signed_but_malformed_claims_are_refused(
    codec: TokenCodec, claims: dict[str, object]
) -> None:
    now = int(time.time())
    full = {"iss": "tidegate", "aud": SERVICE, "iat": now, "exp": now + 60, **claims}
    token = jwt.encode(full, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        codec.verify_access(token)

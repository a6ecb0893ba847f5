"""Access tokens ``tdg_<id>_<secret>`` (docs/access.md, "Access tokens")."""

from __future__ import annotations

import re
import string

import pytest

from tidegate.auth import access_tokens
from tidegate.auth.access_tokens import TokenParts

URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def test_a_generated_token_has_the_documented_shape() -> None:
    token = access_tokens.generate()
    text = str(token)

    assert re.fullmatch(r"tdg_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", text), text
    assert text == f"tdg_{token.id}_{token.secret}"
    assert len(token.id) == 12
    assert len(token.secret) == 43  # 32 random bytes: 256 bits
    assert set(token.secret) <= URL_SAFE


def test_a_generated_token_parses_back_to_its_parts() -> None:
    for _ in range(200):  # secrets may start or end with '-' or '_'
        token = access_tokens.generate()
        assert access_tokens.parse(str(token)) == token
        assert access_tokens.looks_like_token(str(token))


def test_generated_tokens_differ() -> None:
    tokens = [access_tokens.generate() for _ in range(50)]

    assert len({t.id for t in tokens}) == 50
    assert len({t.secret for t in tokens}) == 50


def test_parse_splits_id_and_secret() -> None:
    secret = "_" + "a" * 41 + "-"
    assert access_tokens.parse(f"tdg_abc123def456_{secret}") == TokenParts("abc123def456", secret)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tdg_",
        "hunter2hunter2",
        "tdg_abc123def456",  # no secret
        "tdg_abc123def456_" + "a" * 42,  # secret too short
        "tdg_abc123def456_" + "a" * 44,  # secret too long
        "tdg_abc123def45_" + "a" * 43,  # id too short
        "tdg_abc123def4567_" + "a" * 43,  # id too long
        "tdg_ABC123DEF456_" + "a" * 43,  # the id is lower case
        "tdg_abc-23def456_" + "a" * 43,
        "TDG_abc123def456_" + "a" * 43,
        "xyz_abc123def456_" + "a" * 43,
        "tdg_abc123def456_" + "a" * 42 + "=",  # not URL-safe base64 without padding
        "tdg_abc123def456_" + "a" * 42 + "/",
        " tdg_abc123def456_" + "a" * 43,
        "tdg_abc123def456_" + "a" * 43 + "\n",
        "Bearer tdg_abc123def456_" + "a" * 43,
    ],
)
def test_parse_refuses_anything_else(text: str) -> None:
    assert access_tokens.parse(text) is None


def test_looks_like_token_is_the_prefix_only() -> None:
    """Used to tell a token from a password: anything starting ``tdg_`` is treated as a token
    (and so checked as one), even when malformed."""
    assert access_tokens.looks_like_token("tdg_not-really-a-token")
    assert not access_tokens.looks_like_token("correct horse battery staple")
    assert not access_tokens.looks_like_token("TDG_abc")
    assert not access_tokens.looks_like_token("")

"""Access tokens: ``tdg_<id>_<secret>``.

``<id>`` (12 lower-case letters and digits) names the token and is stored in clear; ``<secret>``
(32 random bytes, URL-safe base64, 43 characters) is stored only as an argon2id hash. The token
is shown once, when created.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

PREFIX = "tdg_"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_TOKEN_RE = re.compile(r"tdg_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class TokenParts:
    id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.id}_{self.secret}"


def generate() -> TokenParts:
    token_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
    return TokenParts(token_id, secrets.token_urlsafe(32))


def looks_like_token(text: str) -> bool:
    return text.startswith(PREFIX)


def parse(text: str) -> TokenParts | None:
    match = _TOKEN_RE.fullmatch(text)
    return TokenParts(match.group(1), match.group(2)) if match else None

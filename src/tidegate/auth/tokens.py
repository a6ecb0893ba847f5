"""Docker registry tokens: short-lived JWT access tokens and long-lived refresh tokens.

Both are HS256 JWTs signed with a per-deployment secret kept in the database. An access token's
``access`` claim lists the scopes granted (a subset of those requested).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from tidegate.auth.principals import Principal
from tidegate.auth.scopes import Scope
from tidegate.errors import Unauthorized

ISSUER = "tidegate"
REFRESH_TTL = 30 * 24 * 3600
_VERIFIED_MAX = 10_000


def _principal_claims(principal: Principal) -> dict[str, Any]:
    """Who the token acts for: name, kind, users row, and the access token it came from."""
    claims: dict[str, Any] = {"sub": principal.name, "knd": principal.kind}
    if principal.id is not None:
        claims["uid"] = principal.id
    if principal.token_id is not None:
        claims["tid"] = principal.token_id
    if principal.password_mark is not None:
        claims["pwm"] = principal.password_mark
    if principal.is_admin:
        claims["adm"] = True
    return claims


def _principal_from(claims: dict[str, Any]) -> Principal:
    uid = claims.get("uid")
    tid = claims.get("tid")
    pwm = claims.get("pwm")
    return Principal(
        str(claims.get("knd", "user")),
        str(claims["sub"]),
        bool(claims.get("adm", False)),
        uid if isinstance(uid, int) else None,
        tid if isinstance(tid, str) else None,
        pwm if isinstance(pwm, str) else None,
    )


@dataclass(frozen=True, slots=True)
class AccessClaims:
    principal: Principal
    access: tuple[Scope, ...]
    expires_at: int

    @property
    def subject(self) -> str:
        return self.principal.name

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    def covers(self, type_: str, name: str) -> bool:
        """Did the token's holder ask for this resource at all (granted or not)?"""
        return any(s.type == type_ and s.name == name for s in self.access)

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(
            s.type == type_ and s.name == name and (action in s.actions or "*" in s.actions)
            for s in self.access
        )


class TokenCodec:
    def __init__(self, secret: str, service: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.service = service
        self.ttl = ttl_seconds
        self._verified: dict[str, AccessClaims] = {}

    def issue_access(self, principal: Principal, access: list[Scope]) -> tuple[str, int, int]:
        now = int(time.time())
        claims: dict[str, Any] = {
            **_principal_claims(principal),
            "iss": ISSUER,
            "aud": self.service,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.ttl,
            "typ": "access",
            "access": [s.as_claim() for s in access],
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), now, self.ttl

    def issue_refresh(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            **_principal_claims(principal),
            "iss": ISSUER,
            "aud": self.service,
            "iat": now,
            "exp": now + REFRESH_TTL,
            "typ": "refresh",
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _decode(self, token: str, typ: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=self.service,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired: log in again") from None
        except jwt.PyJWTError:
            raise Unauthorized("the token is not valid for this registry") from None
        if claims.get("typ") != typ:
            raise Unauthorized(f"this is not {'an' if typ == 'access' else 'a'} {typ} token")
        if not isinstance(claims.get("sub"), str):
            raise Unauthorized("the token names no subject")
        return claims

    def verify_access(self, token: str) -> AccessClaims:
        """Verify a token; a token verified before is answered from memory until it expires."""
        cached = self._verified.get(token)
        if cached is not None and cached.expires_at > time.time():
            return cached
        result = self._verify_access(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = result
        return result

    def _verify_access(self, token: str) -> AccessClaims:
        claims = self._decode(token, "access")
        entries = claims.get("access") or []
        if not isinstance(entries, list):
            raise Unauthorized("the token's access claim is malformed")
        access = tuple(
            Scope(str(a.get("type")), str(a.get("name")), tuple(str(x) for x in a["actions"]))
            for a in entries
            if isinstance(a, dict) and isinstance(a.get("actions"), list)
        )
        return AccessClaims(_principal_from(claims), access, int(claims["exp"]))

    def verify_refresh(self, token: str) -> Principal:
        return _principal_from(self._decode(token, "refresh"))

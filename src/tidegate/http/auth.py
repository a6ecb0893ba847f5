"""Authentication of a request and the authorization decision for a route, in one place.

A route declares what it needs (a ``Requirement``, plus for a cross-repository mount the read
access it would like on the source); ``Gatekeeper.check`` answers with the caller, or raises.

Answers follow what the real clients need:
- no or bad credentials: 401 with the Docker token challenge (realm, service, scope) on every
  protected endpoint, since containerd never pings ``/v2/`` first;
- the challenge for a repository asks for ``pull,push,delete``: the token service grants only
  what the caller may do of that, but clients that keep one token per repository (oras-py) or
  per HTTP method (the conformance suite) then hold one that serves every route they go on to
  use;
- a valid token that lacks the route's scope: 401 ``insufficient_scope`` naming the scope
  (as CNCF distribution answers), so the client asks again;
- a token that never asked for the mount source: the same 401, naming both scopes; a token that
  asked and was refused: the mount silently becomes an upload;
- Basic credentials without the permission: 403 ``DENIED``;
- no credentials where a permission target lets anonymous do it: allowed, no challenge.

Every credential check (``/v2`` Basic, ``/auth/token``, ``/api/v1``) goes through
``check_password``: the failed-login throttle per client address, and the audit of failures.
Refusals of access are audited here too.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

import anyio
import anyio.to_thread
from starlette.requests import Request

from tidegate.auth import access_tokens
from tidegate.auth.principals import ANONYMOUS, Principal
from tidegate.auth.throttle import LoginThrottle
from tidegate.auth.token_service import TokenService
from tidegate.auth.tokens import AccessClaims
from tidegate.errors import Denied, TooManyRequests, Unauthorized
from tidegate.http.errors import WithHeaders
from tidegate.oci.names import split_name
from tidegate.services.audit import AuditLog
from tidegate.services.identity import NAME_RE

TOKEN_PATH = "/auth/token"
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route needs: ``None`` (authenticated only), ``("registry", "catalog", "*")`` or
    ``("repository", <name>, <wire action>)``."""

    type: str | None = None
    name: str = ""
    action: str = ""
    ask_broadly: bool = True  # False: the challenge asks for exactly ``action``

    @property
    def scope(self) -> str | None:
        """The scope a challenge asks for (see the module docstring for why it is broad)."""
        if self.type is None:
            return None
        if self.type == "repository" and self.ask_broadly:
            return f"repository:{self.name}:pull,push,delete"
        return f"{self.type}:{self.name}:{self.action}"


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    claims: AccessClaims | None  # set for bearer tokens; None for Basic credentials


class AuthChallenge(Unauthorized, WithHeaders):
    """Unauthorized, with the ``WWW-Authenticate`` challenge the client needs."""

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": challenge}


def parse_basic(header: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def password_checks_limiter() -> anyio.CapacityLimiter:
    """argon2 checks get their own few threads: a flood of wrong passwords then queues here,
    in the event loop, instead of filling the thread pool every upload and push needs."""
    return anyio.CapacityLimiter(max(1, os.cpu_count() or 1))


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded
    (``http/observe.py`` rewrites the scope before anything reads it)."""
    return request.client.host if request.client else "unknown"


class Gatekeeper:
    def __init__(self, tokens: TokenService, audit: AuditLog, throttle: LoginThrottle) -> None:
        self.tokens = tokens
        self.audit = audit
        self.throttle = throttle
        self.password_checks = password_checks_limiter()

    async def check_password(self, request: Request, username: str, password: str) -> Principal:
        """Username with a password or an access token. Raises Unauthorized, or
        TooManyRequests while the client's address is throttled."""
        address = client_address(request)
        self.throttle.check(address)
        known = self.tokens.credentials.recently_verified(username, password)
        if known is not None:
            return known
        try:
            return await anyio.to_thread.run_sync(
                self.tokens.credentials.authenticate,
                username,
                password,
                limiter=self.password_checks,
            )
        except Unauthorized as exc:
            name = username if NAME_RE.fullmatch(username) else "(not a valid username)"
            if self.throttle.failed(address):
                self.audit.refused(name, address, "login.throttled", None, "too many failed logins")
            self.audit.refused(name, address, "login.failed", None, exc.message)
            raise

    async def authenticate_api(self, request: Request) -> Principal:
        """The caller of ``/api/v1``: Basic (password or access token) or
        ``Authorization: Bearer tdg_...``. Raises Unauthorized or TooManyRequests."""
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            creds = parse_basic(header)
            if creds is None:
                raise Unauthorized("malformed Basic credentials")
            return await self.check_password(request, *creds)
        if scheme == "bearer" and access_tokens.looks_like_token(credentials.strip()):
            token = credentials.strip()
            owner = self.tokens.credentials.principal_for_token(token)
            # unknown token: fails like a wrong password (throttled and audited alike)
            return await self.check_password(request, *(owner or ("(unknown token)", token)))
        if scheme == "bearer":
            raise Unauthorized("use an access token (tdg_...) or Basic credentials here")
        raise Unauthorized("authentication required: use Basic credentials or an access token")

    def refused(self, request: Request, principal: Principal, target: str, reason: str) -> None:
        self.audit.refused(
            principal.name, client_address(request), "access.refused", target, reason
        )

    def challenge(self, request: Request, scopes: list[Requirement], error: str | None) -> str:
        host = request.headers.get("host", "")
        if not _HOST_RE.fullmatch(host):  # never echo a header's quotes into the challenge
            server = request.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        realm = f"{request.url.scheme}://{host}{TOKEN_PATH}"
        header = f'Bearer realm="{realm}",service="{self.tokens.codec.service}"'
        wanted = " ".join(s.scope for s in scopes if s.scope)
        if wanted:
            header += f',scope="{wanted}"'
        if error:
            header += f',error="{error}"'
        return header

    async def authenticate(self, request: Request, scopes: list[Requirement]) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if not header and scopes[0].type is not None:
            anonymous = Caller(ANONYMOUS, None)
            if self.may(anonymous, scopes[0]):
                return anonymous
        if scheme == "bearer":
            try:
                principal, claims = self.tokens.verify_bearer(credentials.strip())
            except Unauthorized as exc:
                raise AuthChallenge(
                    exc.message, self.challenge(request, scopes, "invalid_token")
                ) from None
            return Caller(principal, claims)
        if scheme == "basic":
            creds = parse_basic(header)
            if creds is None:
                raise AuthChallenge(
                    "malformed Basic credentials", self.challenge(request, scopes, None)
                )
            try:
                user = await self.check_password(request, *creds)
            except TooManyRequests:
                raise
            except Unauthorized as exc:
                raise AuthChallenge(exc.message, self.challenge(request, scopes, None)) from None
            return Caller(user, None)
        raise AuthChallenge(
            "authentication required: log in to this registry",
            self.challenge(request, scopes, None),
        )

    def may(self, caller: Caller, requirement: Requirement) -> bool:
        """The decision, for a token (what it grants) or for Basic credentials (the rules)."""
        if requirement.type is None:
            return True
        if caller.claims is not None:
            return caller.claims.allows(requirement.type, requirement.name, requirement.action)
        if requirement.type == "registry":
            return self.tokens.evaluator.can_list_catalog(caller.principal)
        return self.tokens.allowed(caller.principal, requirement.name, requirement.action)

    def principal_may(self, principal: Principal, requirement: Requirement) -> bool:
        """The rules alone, whatever a token says: for mounts without ``from``, whose source
        no client can name in advance."""
        return self.may(Caller(principal, None), requirement)

    async def check(
        self, request: Request, requirement: Requirement, wanted: Requirement | None = None
    ) -> Caller:
        """Authenticate and authorize ``requirement``; ``wanted`` is optional extra access
        (a mount source) that the caller's token should at least have asked for."""
        scopes = [requirement] + ([wanted] if wanted else [])
        caller = await self.authenticate(request, scopes)
        if requirement.type == "repository":
            split_name(requirement.name)  # a malformed name is NAME_INVALID, not DENIED
        if not self.may(caller, requirement):
            action, name = requirement.action, requirement.name
            message = f"{caller.principal.name} may not {action} {name}"
            self.refused(request, caller.principal, name, message)
            if caller.claims is not None:
                raise AuthChallenge(
                    f"the token does not grant {action} on {name}",
                    self.challenge(request, scopes, "insufficient_scope"),
                )
            raise Denied(message)
        if (
            wanted is not None
            and caller.claims is not None
            and not caller.claims.covers(wanted.type or "", wanted.name)
        ):
            raise AuthChallenge(
                f"the token does not cover {wanted.scope}: ask for it",
                self.challenge(request, scopes, "insufficient_scope"),
            )
        return caller

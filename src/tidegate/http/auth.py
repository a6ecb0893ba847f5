"""Authentication of a request and the authorization decision for a route, in one place.

A route declares what it needs (a ``Requirement``, plus for a cross-repository mount the read
access it would like on the source); ``Gatekeeper.check`` answers with the caller, or raises.

Answers follow what the real clients need:
- no or bad credentials: 401 with the Docker token challenge (realm, service, scope) on every
  protected endpoint, since containerd never pings ``/v2/`` first;
- a valid token that lacks the route's scope: 403 ``DENIED`` with an ``insufficient_scope``
  challenge naming the scope, so a client holding a token for another action (oras-py reuses
  its pull token for a push) fetches a new one;
- a token that never asked for the mount source: 401 with a challenge for both scopes, so the
  client can ask; a token that asked and was refused: the mount silently becomes an upload.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request

from tidegate.auth.principals import Principal
from tidegate.auth.scopes import WIRE_ACTIONS
from tidegate.auth.token_service import TokenService
from tidegate.auth.tokens import AccessClaims
from tidegate.errors import Denied, NameInvalid, Unauthorized
from tidegate.oci.names import split_name

TOKEN_PATH = "/auth/token"


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route needs: ``None`` (authenticated only), ``("registry", "catalog", "*")`` or
    ``("repository", <name>, <wire action>)``."""

    type: str | None = None
    name: str = ""
    action: str = ""

    @property
    def scope(self) -> str | None:
        if self.type is None:
            return None
        actions = "pull,push" if self.action == "push" else self.action
        return f"{self.type}:{self.name}:{actions}"


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    claims: AccessClaims | None  # set for bearer tokens; None for Basic credentials


class Challenged:
    """Mixin: an error that carries a ``WWW-Authenticate`` challenge for the response."""

    challenge: str


class AuthChallenge(Unauthorized, Challenged):
    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.challenge = challenge


class ScopeDenied(Denied, Challenged):
    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.challenge = challenge


def parse_basic(header: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class Gatekeeper:
    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    def challenge(self, request: Request, scopes: list[Requirement], error: str | None) -> str:
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
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
                principal = await anyio.to_thread.run_sync(
                    self.tokens.credentials.authenticate, *creds
                )
            except Unauthorized as exc:
                raise AuthChallenge(exc.message, self.challenge(request, scopes, None)) from None
            return Caller(principal, None)
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
        try:
            key, image = split_name(requirement.name)
        except NameInvalid:
            return False
        return self.tokens.evaluator.allowed(
            caller.principal, key, image, WIRE_ACTIONS[requirement.action]
        )

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
            message = f"{caller.principal.name} may not {requirement.action} {requirement.name}"
            if caller.claims is not None:
                raise ScopeDenied(
                    f"{message} with this token",
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

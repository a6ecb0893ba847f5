"""Authentication of a request and the authorization decision for a route, in one place.

A route declares what it needs (a ``Requirement``); ``Gatekeeper.check`` answers with the
caller, or raises. Unauthenticated callers get the Docker token challenge (401 with realm,
service and scope) on every protected endpoint, since containerd never pings ``/v2/`` first.
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


class AuthChallenge(Unauthorized):
    """Unauthorized, with the challenge header the client needs to obtain a token."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(message)
        self.header = header


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

    def challenge(self, request: Request, requirement: Requirement, error: str | None) -> str:
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        realm = f"{request.url.scheme}://{host}{TOKEN_PATH}"
        header = f'Bearer realm="{realm}",service="{self.tokens.codec.service}"'
        if requirement.scope:
            header += f',scope="{requirement.scope}"'
        if error:
            header += f',error="{error}"'
        return header

    async def authenticate(self, request: Request, requirement: Requirement) -> Caller:
        header = request.headers.get("authorization", "")
        scheme = header.split(" ", 1)[0].lower()
        if scheme == "bearer":
            try:
                principal, claims = self.tokens.verify_bearer(header.split(" ", 1)[1].strip())
            except (Unauthorized, IndexError) as exc:
                raise AuthChallenge(
                    getattr(exc, "message", "invalid bearer token"),
                    self.challenge(request, requirement, "invalid_token"),
                ) from None
            return Caller(principal, claims)
        if scheme == "basic":
            creds = parse_basic(header)
            if creds is None:
                raise AuthChallenge(
                    "malformed Basic credentials", self.challenge(request, requirement, None)
                )
            try:
                principal = await anyio.to_thread.run_sync(
                    self.tokens.credentials.authenticate, *creds
                )
            except Unauthorized as exc:
                raise AuthChallenge(
                    exc.message, self.challenge(request, requirement, None)
                ) from None
            return Caller(principal, None)
        raise AuthChallenge(
            "authentication required: log in to this registry",
            self.challenge(request, requirement, None),
        )

    def may(self, caller: Caller, requirement: Requirement) -> bool:
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

    async def check(self, request: Request, requirement: Requirement) -> Caller:
        caller = await self.authenticate(request, requirement)
        if requirement.type == "repository":
            split_name(requirement.name)  # a malformed name is NAME_INVALID, not DENIED
        if self.may(caller, requirement):
            return caller
        if caller.claims is not None:
            # A token without the scope: tell the client which scope to ask for.
            raise AuthChallenge(
                f"the token does not grant {requirement.scope}",
                self.challenge(request, requirement, "insufficient_scope"),
            )
        raise Denied(f"{caller.principal.name} may not {requirement.action} {requirement.name}")

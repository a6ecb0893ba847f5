"""The Docker token service: authenticate, then grant the intersection of the requested scopes
and what the principal may do. Also resolves the credentials a ``/v2`` request carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tidegate.auth.credentials import CredentialChecker
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.principals import Principal
from tidegate.auth.scopes import WIRE_ACTIONS, Scope
from tidegate.auth.tokens import AccessClaims, TokenCodec
from tidegate.errors import NameInvalid, Unauthorized
from tidegate.oci.names import split_name


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    issued_at: int
    expires_in: int
    refresh_token: str | None
    granted: tuple[Scope, ...]


Subject = Callable[[str, str], tuple[str, str]]


def plain_subject(name: str, wire_action: str) -> tuple[str, str]:
    """``<repo-key>/<image>`` as written (no default repository, no virtual routing)."""
    return split_name(name)


class TokenService:
    def __init__(
        self,
        credentials: CredentialChecker,
        evaluator: PermissionEvaluator,
        codec: TokenCodec,
        subject: Subject = plain_subject,
    ) -> None:
        self.credentials = credentials
        self.evaluator = evaluator
        self.codec = codec
        # (wire name, wire action) -> (repository key, image) whose permission decides
        self.subject = subject

    def allowed(self, principal: Principal, name: str, wire_action: str) -> bool:
        """May ``principal`` do ``wire_action`` (pull, push, delete) on the wire name?"""
        try:
            key, image = self.subject(name, wire_action)
        except NameInvalid:
            return False
        return self.evaluator.allowed(principal, key, image, WIRE_ACTIONS[wire_action])

    def grant(self, principal: Principal, requested: list[Scope]) -> list[Scope]:
        """The intersection of what was asked and what is allowed. A resource that was asked
        for keeps an entry even when nothing was granted, so the registry can tell "refused"
        from "never asked"."""
        granted: list[Scope] = []
        for scope in requested:
            if scope.type == "registry":
                if scope.name == "catalog":
                    ok = self.evaluator.can_list_catalog(principal)
                    granted.append(Scope("registry", "catalog", ("*",) if ok else ()))
                continue
            try:
                split_name(scope.name)
            except NameInvalid:
                continue
            actions = set(scope.actions)
            if "*" in actions:
                actions = set(WIRE_ACTIONS)
            allowed = tuple(
                sorted(
                    a
                    for a in actions
                    if a in WIRE_ACTIONS and self.allowed(principal, scope.name, a)
                )
            )
            granted.append(Scope("repository", scope.name, allowed))
        return granted

    def issue(
        self, principal: Principal, requested: list[Scope], with_refresh: bool
    ) -> IssuedToken:
        granted = self.grant(principal, requested)
        token, issued_at, ttl = self.codec.issue_access(principal, granted)
        with_refresh = with_refresh and not principal.is_anonymous
        refresh = self.codec.issue_refresh(principal) if with_refresh else None
        return IssuedToken(token, issued_at, ttl, refresh, tuple(granted))

    def _live(self, principal: Principal) -> Principal:
        live = self.credentials.principal_for(principal)
        if live is None:
            what = "access token" if principal.token_id else "account"
            raise Unauthorized(
                f"the {what} this token was issued for was revoked, disabled or removed:"
                " log in again"
            )
        return live

    def principal_from_refresh(self, refresh_token: str) -> Principal:
        """The principal a refresh token names, as it is now (refused when no longer valid)."""
        return self._live(self.codec.verify_refresh(refresh_token))

    def verify_bearer(self, token: str) -> tuple[Principal, AccessClaims]:
        """A registry bearer token: its signature and expiry, then its principal's liveness
        (the token itself may be cached; the liveness check is one snapshot lookup)."""
        claims = self.codec.verify_access(token)
        return self._live(claims.principal), claims

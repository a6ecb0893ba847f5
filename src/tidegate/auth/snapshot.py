"""An immutable picture of who exists and who may do what: principals, group memberships,
active access tokens and compiled permission targets. Built from rows; pure (no I/O), so the
evaluation it answers is cheap, repeatable and unit-testable.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tidegate.auth.globs import matches_any
from tidegate.auth.principals import Action, Principal
from tidegate.db.records import GrantRecord, GroupRecord, TargetRecord, TokenRecord, UserRecord

ANONYMOUS_KEY = ("anonymous", 0)
_MEMO_MAX = 50_000


@dataclass(frozen=True, slots=True)
class PrincipalEntry:
    id: int
    name: str
    kind: str
    is_admin: bool
    disabled: bool
    password_hash: str | None
    group_ids: frozenset[int]

    @property
    def password_mark(self) -> str | None:
        return password_mark(self.password_hash) if self.password_hash else None

    def principal(self, token_id: str | None = None, by_password: bool = False) -> Principal:
        mark = self.password_mark if by_password else None
        return Principal(self.kind, self.name, self.is_admin, self.id, token_id, mark)


def password_mark(password_hash: str) -> str:
    """A short fingerprint of a stored hash: it changes when the password changes."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TokenEntry:
    id: str
    user_id: int
    secret_hash: str
    expires_at: float  # epoch seconds
    password_mark: str | None = None  # a session token: ends when the password changes


@dataclass(frozen=True, slots=True)
class CompiledTarget:
    name: str
    repositories: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    grants: dict[tuple[str, int], frozenset[Action]]

    def covers_every_image(self, repository: str) -> bool:
        """The target covers ``repository`` whole: no image it leaves out (``**`` included,
        nothing excluded). Repository-wide acts (settings, policies) need such a target."""
        return (
            matches_any(self.repositories, repository) and "**" in self.include and not self.exclude
        )

    def covers(self, repository: str, image: str) -> bool:
        if not matches_any(self.repositories, repository):
            return False
        if image and not matches_any(self.include, image):
            return False
        return not (image and self.exclude and matches_any(self.exclude, image))


@dataclass(slots=True)
class IdentitySnapshot:
    generation: int
    principals: dict[str, PrincipalEntry]
    groups: dict[int, str]
    tokens: dict[str, TokenEntry]
    targets: tuple[CompiledTarget, ...]
    _memo: dict[tuple[str, int, str, str], frozenset[Action]] = field(default_factory=dict)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls,
        generation: int,
        users: Iterable[UserRecord],
        groups: Iterable[GroupRecord],
        memberships: Iterable[tuple[int, int]],
        tokens: Iterable[TokenRecord],
        targets: Iterable[TargetRecord],
        grants: Iterable[GrantRecord],
    ) -> IdentitySnapshot:
        member_of: dict[int, set[int]] = {}
        for group_id, user_id in memberships:
            member_of.setdefault(user_id, set()).add(group_id)
        principals = {
            u.username: PrincipalEntry(
                u.id,
                u.username,
                u.kind,
                u.is_admin,
                u.disabled,
                u.password_hash,
                frozenset(member_of.get(u.id, ())),
            )
            for u in users
        }
        by_target: dict[int, dict[tuple[str, int], frozenset[Action]]] = {}
        for g in grants:
            if g.user_id is not None:
                key = ("user", g.user_id)
            elif g.group_id is not None:
                key = ("group", g.group_id)
            else:
                key = ANONYMOUS_KEY
            actions = frozenset(Action(a) for a in g.actions if a in Action.__members__.values())
            entry = by_target.setdefault(g.target_id, {})
            entry[key] = entry.get(key, frozenset()) | actions
        compiled = tuple(
            CompiledTarget(t.name, t.repositories, t.include, t.exclude, by_target.get(t.id, {}))
            for t in targets
        )
        return cls(
            generation,
            principals,
            {g.id: g.name for g in groups},
            {
                t.id: TokenEntry(
                    t.id, t.user_id, t.secret_hash, _epoch(t.expires_at), t.password_mark
                )
                for t in tokens
            },
            compiled,
        )

    # --- who ------------------------------------------------------------------------------

    def entry(self, name: str) -> PrincipalEntry | None:
        return self.principals.get(name)

    def entry_by_id(self, user_id: int) -> PrincipalEntry | None:
        for entry in self.principals.values():
            if entry.id == user_id:
                return entry
        return None

    def current(self, principal: Principal) -> PrincipalEntry | None:
        """The live entry for a principal that authenticated earlier; None if it is gone,
        disabled, its access token is no longer active, or its password changed."""
        entry = self.principals.get(principal.name)
        if entry is None or entry.disabled or entry.kind != principal.kind:
            return None
        if principal.id is not None and entry.id != principal.id:
            return None  # deleted and re-created under the same name: not the same principal
        if principal.token_id is not None and not self.token_active(principal.token_id, entry):
            return None
        if principal.password_mark is not None and principal.password_mark != entry.password_mark:
            return None  # the password changed since: sessions opened with the old one end
        return entry

    def token_active(self, token_id: str, owner: PrincipalEntry, now: float | None = None) -> bool:
        """Not revoked (it is in the snapshot), ``owner``'s, not expired, and for a session
        token, made with the password ``owner`` still has."""
        token = self.tokens.get(token_id)
        if token is None or token.user_id != owner.id:
            return False
        if token.password_mark is not None and token.password_mark != owner.password_mark:
            return False
        return token.expires_at > (time.time() if now is None else now)

    # --- what -----------------------------------------------------------------------------

    def _keys(self, principal: Principal) -> list[tuple[str, int]]:
        """The grant keys that speak for ``principal``: anonymous, itself, its groups."""
        keys: list[tuple[str, int]] = [ANONYMOUS_KEY]
        if not principal.is_anonymous and principal.id is not None:
            entry = self.principals.get(principal.name)
            if entry is not None and entry.id == principal.id and not entry.disabled:
                keys.append(("user", entry.id))
                keys.extend(("group", g) for g in entry.group_ids)
        return keys

    def actions(self, principal: Principal, repository: str, image: str) -> frozenset[Action]:
        """Everything ``principal`` may do on ``image`` in ``repository`` (admins: all)."""
        if principal.is_admin:
            return frozenset(Action)
        memo_key = (principal.kind, principal.id or 0, repository, image)
        found = self._memo.get(memo_key)
        if found is not None:
            return found
        keys = self._keys(principal)
        result: frozenset[Action] = frozenset()
        for target in self.targets:
            granted = [target.grants[k] for k in keys if k in target.grants]
            if granted and target.covers(repository, image):
                for actions in granted:
                    result |= actions
        with self._memo_lock:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[memo_key] = result
        return result

    def actions_everywhere(self, principal: Principal, repository: str) -> frozenset[Action]:
        """What ``principal`` may do on every image of ``repository``, present and future:
        grants of targets that cover the repository whole (admins: all)."""
        if principal.is_admin:
            return frozenset(Action)
        keys = self._keys(principal)
        result: frozenset[Action] = frozenset()
        for target in self.targets:
            if target.covers_every_image(repository):
                for key in keys:
                    result |= target.grants.get(key, frozenset())
        return result

    def anonymous_reads_anything(self) -> bool:
        return any(Action.READ in t.grants.get(ANONYMOUS_KEY, ()) for t in self.targets)


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:  # SQLite returns naive datetimes for timezone-aware columns
        value = value.replace(tzinfo=UTC)
    return value.timestamp()

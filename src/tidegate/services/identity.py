"""Users, service accounts, groups, memberships and access tokens: the use cases of managing
identities. Every change is one transaction that also bumps the identity generation (so every
process sees it at once) and records an audit event.

Who may call what: the management API lets only admins reach the user, service-account and
group calls; the token calls are self-service, and the rules about whose tokens a caller may
create, list or revoke are here (``Denied``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from tidegate.auth import access_tokens
from tidegate.auth.identity import IdentityState
from tidegate.auth.passwords import hash_password
from tidegate.db import Database
from tidegate.db import access as access_q
from tidegate.db import users as user_q
from tidegate.db.records import TokenRecord, UserRecord
from tidegate.errors import Conflict, Denied, InvalidRequest, NotFound
from tidegate.services.audit import Actor, AuditLog

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
RESERVED_NAMES = frozenset({"anonymous"})
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650


EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


def validate_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidRequest(
            f"{what} name {str(name)[:80]!r} is not valid: use 1-64 lower-case letters, digits,"
            " '.', '_' or '-', starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise InvalidRequest(f"{name!r} is reserved and cannot name a {what}")
    return name


def validate_email(email: str | None) -> str | None:
    """An address notifications can be sent to (``""`` and None: none)."""
    if email and (len(email) > 320 or not EMAIL_RE.fullmatch(email)):
        raise InvalidRequest("email: must be an address such as dev@example.com")
    return email


def validate_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(
            f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
        )
    if access_tokens.looks_like_token(password):
        raise InvalidRequest(f"a password cannot start with {access_tokens.PREFIX!r}")
    return password


@dataclass(frozen=True, slots=True)
class UserView:
    name: str
    kind: str  # "user" | "service"
    is_admin: bool
    disabled: bool
    groups: list[str]
    created_at: datetime | None
    description: str | None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class GroupView:
    name: str
    description: str | None
    members: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenView:
    id: str
    name: str
    principal: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    ends_with_password: bool = False  # a session token (the web UI's)


@dataclass(frozen=True, slots=True)
class NewToken:
    view: TokenView
    token: str  # shown once


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_KIND_WORD = {"user": "user", "service": "service account"}


class IdentityService:
    def __init__(self, db: Database, state: IdentityState, audit: AuditLog) -> None:
        self._db = db
        self._state = state
        self._audit = audit

    @contextmanager
    def _change(self) -> Iterator[Connection]:
        with self._db.transaction() as conn:
            yield conn
            access_q.bump_auth_generation(conn)
        self._state.invalidate()

    # --- lookups ---------------------------------------------------------------------------

    def _user(self, conn: Connection, name: str, kind: str | None) -> UserRecord:
        user = user_q.get_by_username(conn, name)
        if user is None or (kind is not None and user.kind != kind):
            raise NotFound(f"no {_KIND_WORD.get(kind or 'user', 'principal')} named {name!r}")
        return user

    def _group_ids(self, conn: Connection, names: list[str]) -> list[int]:
        ids, unknown = [], []
        for name in dict.fromkeys(names):
            group = user_q.get_group(conn, name)
            if group is None:
                unknown.append(name)
            else:
                ids.append(group.id)
        if unknown:
            raise InvalidRequest(f"unknown group(s): {', '.join(unknown)}")
        return ids

    def _view(self, conn: Connection, user: UserRecord) -> UserView:
        names = {g.id: g.name for g in user_q.list_groups(conn)}
        groups = sorted(names[g] for g, u in user_q.memberships(conn) if u == user.id)
        return UserView(
            user.username,
            user.kind,
            user.is_admin,
            user.disabled,
            groups,
            user.created_at and _utc(user.created_at),
            user.description,
            user.email,
        )

    # --- users and service accounts --------------------------------------------------------

    def list_users(self, kind: str = "user") -> list[UserView]:
        with self._db.read() as conn:
            names = {g.id: g.name for g in user_q.list_groups(conn)}
            member_of: dict[int, list[str]] = {}
            for group_id, user_id in user_q.memberships(conn):
                member_of.setdefault(user_id, []).append(names[group_id])
            return [
                UserView(
                    u.username,
                    u.kind,
                    u.is_admin,
                    u.disabled,
                    sorted(member_of.get(u.id, [])),
                    u.created_at and _utc(u.created_at),
                    u.description,
                    u.email,
                )
                for u in user_q.list_users(conn, kind)
            ]

    def get_user(self, name: str, kind: str = "user") -> UserView:
        with self._db.read() as conn:
            return self._view(conn, self._user(conn, name, kind))

    def create_user(
        self,
        actor: Actor,
        username: str,
        password: str,
        groups: list[str] | None = None,
        is_admin: bool = False,
        email: str | None = None,
    ) -> UserView:
        validate_name(username, "user")
        validate_password(password)
        validate_email(email)
        password_hash = hash_password(password)  # before the transaction: argon2 is slow
        return self._create(
            actor, username, password_hash, groups or [], is_admin, "user", None, email
        )

    def create_service_account(
        self,
        actor: Actor,
        name: str,
        groups: list[str] | None = None,
        description: str | None = None,
    ) -> UserView:
        validate_name(name, "service account")
        return self._create(actor, name, None, groups or [], False, "service", description)

    def _create(
        self,
        actor: Actor,
        name: str,
        password_hash: str | None,
        groups: list[str],
        is_admin: bool,
        kind: str,
        description: str | None,
        email: str | None = None,
    ) -> UserView:
        with self._change() as conn:
            if user_q.get_by_username(conn, name) is not None:
                raise Conflict(f"a user or service account named {name!r} already exists")
            group_ids = self._group_ids(conn, groups)
            user_id = user_q.create(conn, name, password_hash, is_admin, kind, description, email)
            user_q.set_memberships(conn, user_id, group_ids)
            action = "user.created" if kind == "user" else "service_account.created"
            self._audit.record(
                conn, actor, action, name, {"groups": sorted(groups), "is_admin": is_admin}
            )
            return self._view(conn, self._user(conn, name, kind))

    def update_user(
        self,
        actor: Actor,
        name: str,
        kind: str = "user",
        *,
        password: str | None = None,
        groups: list[str] | None = None,
        is_admin: bool | None = None,
        disabled: bool | None = None,
        description: str | None = None,
        email: str | None = None,
    ) -> UserView:
        values: dict[str, object] = {}
        if email is not None:
            values["email"] = validate_email(email) or None  # "": remove the address
        if password is not None:
            if kind != "user":
                raise InvalidRequest("service accounts have no password: create a token")
            values["password_hash"] = hash_password(validate_password(password))
        if is_admin is not None:
            if kind != "user" and is_admin:
                raise InvalidRequest("a service account cannot be an admin")
            values["is_admin"] = is_admin
        if disabled is not None:
            values["disabled"] = disabled
        if description is not None:
            values["description"] = description
        with self._change() as conn:
            user = self._user(conn, name, kind)
            losing_admin = (
                user.is_admin and not user.disabled and (is_admin is False or disabled is True)
            )
            if losing_admin and user_q.count_admins(conn) <= 1:
                raise Conflict(f"{name!r} is the last admin: make another admin first")
            user_q.update_user(conn, user.id, **values)
            if groups is not None:
                user_q.set_memberships(conn, user.id, self._group_ids(conn, groups))
            changed = sorted(values) + (["groups"] if groups is not None else [])
            detail = {"changed": [c.replace("password_hash", "password") for c in changed]}
            if groups is not None:
                detail["groups"] = sorted(groups)
            self._audit.record(conn, actor, "user.updated", name, detail)
            return self._view(conn, self._user(conn, name, kind))

    def change_own_password(self, actor: Actor, new_password: str) -> None:
        """The caller's own password (the caller proved the current one first: the API's job).
        Sessions opened with the old password end with it (docs/access.md)."""
        if actor.principal.kind != "user":
            raise InvalidRequest("service accounts have no password: create a token")
        password_hash = hash_password(validate_password(new_password))
        with self._change() as conn:
            user = self._user(conn, actor.name, "user")
            user_q.update_user(conn, user.id, password_hash=password_hash)
            self._audit.record(conn, actor, "user.password_changed", actor.name, {})

    def delete_user(self, actor: Actor, name: str, kind: str = "user") -> None:
        with self._change() as conn:
            user = self._user(conn, name, kind)
            if user.is_admin and not user.disabled and user_q.count_admins(conn) <= 1:
                raise Conflict(f"{name!r} is the last admin and cannot be deleted")
            user_q.delete_user(conn, user.id)
            self._audit.record(conn, actor, "user.deleted", name, {"kind": kind})

    # --- groups ----------------------------------------------------------------------------

    def list_groups(self) -> list[GroupView]:
        with self._db.read() as conn:
            users = {u.id: u.username for u in user_q.list_users(conn)}
            members: dict[int, list[str]] = {}
            for group_id, user_id in user_q.memberships(conn):
                members.setdefault(group_id, []).append(users[user_id])
            return [
                GroupView(g.name, g.description, sorted(members.get(g.id, [])), _utc(g.created_at))
                for g in user_q.list_groups(conn)
            ]

    def get_group(self, name: str) -> GroupView:
        for group in self.list_groups():
            if group.name == name:
                return group
        raise NotFound(f"no group named {name!r}")

    def create_group(
        self,
        actor: Actor,
        name: str,
        description: str | None = None,
        members: list[str] | None = None,
    ) -> GroupView:
        validate_name(name, "group")
        with self._change() as conn:
            if user_q.get_group(conn, name) is not None:
                raise Conflict(f"a group named {name!r} already exists")
            found = {m: user_q.get_by_username(conn, m) for m in dict.fromkeys(members or [])}
            unknown = [m for m, user in found.items() if user is None]
            if unknown:
                raise InvalidRequest(f"unknown member(s): {', '.join(unknown)}")
            group_id = user_q.create_group(conn, name, description)
            for user in found.values():
                assert user is not None
                user_q.add_member(conn, group_id, user.id)
            self._audit.record(
                conn, actor, "group.created", name, {"members": sorted(members or [])}
            )
        return self.get_group(name)

    def delete_group(self, actor: Actor, name: str) -> None:
        with self._change() as conn:
            group = user_q.get_group(conn, name)
            if group is None:
                raise NotFound(f"no group named {name!r}")
            user_q.delete_group(conn, group.id)
            self._audit.record(conn, actor, "group.deleted", name)

    def add_member(self, actor: Actor, group: str, principal: str) -> None:
        with self._change() as conn:
            record = user_q.get_group(conn, group)
            if record is None:
                raise NotFound(f"no group named {group!r}")
            user = self._user(conn, principal, None)
            if user_q.add_member(conn, record.id, user.id):
                self._audit.record(conn, actor, "group.member_added", group, {"member": principal})

    def remove_member(self, actor: Actor, group: str, principal: str) -> None:
        with self._change() as conn:
            record = user_q.get_group(conn, group)
            if record is None:
                raise NotFound(f"no group named {group!r}")
            user = self._user(conn, principal, None)
            if not user_q.remove_member(conn, record.id, user.id):
                raise NotFound(f"{principal!r} is not a member of {group!r}")
            self._audit.record(conn, actor, "group.member_removed", group, {"member": principal})

    # --- access tokens ---------------------------------------------------------------------

    def _token_owner(self, conn: Connection, actor: Actor, principal: str | None) -> UserRecord:
        name = principal or actor.name
        if actor.principal.is_anonymous:
            raise Denied("sign in to manage access tokens")
        if name != actor.name and not actor.principal.is_admin:
            raise Denied("only an admin may manage another principal's tokens")
        return self._user(conn, name, None)

    def _token_view(self, token: TokenRecord, owner: str) -> TokenView:
        return TokenView(
            token.id,
            token.name,
            owner,
            _utc(token.created_at),
            _utc(token.expires_at),
            token.revoked_at and _utc(token.revoked_at),
            token.password_mark is not None,
        )

    def list_tokens(
        self, actor: Actor, principal: str | None = None, all_principals: bool = False
    ) -> list[TokenView]:
        with self._db.read() as conn:
            if all_principals:
                if not actor.principal.is_admin:
                    raise Denied("only an admin may list every principal's tokens")
                names = {u.id: u.username for u in user_q.list_users(conn)}
                return [self._token_view(t, names[t.user_id]) for t in access_q.list_tokens(conn)]
            owner = self._token_owner(conn, actor, principal)
            return [
                self._token_view(t, owner.username) for t in access_q.list_tokens(conn, owner.id)
            ]

    def create_token(
        self,
        actor: Actor,
        name: str,
        expires_in_days: int | None = None,
        principal: str | None = None,
        expires_in_hours: int | None = None,
        ends_with_password: bool = False,
    ) -> NewToken:
        """A new token, valid for ``expires_in_days`` (default 90) or ``expires_in_hours``
        (short-lived: a web UI session, one pipeline run), never both. ``ends_with_password``:
        a session token, made by a caller signed in with their own password, that stops
        working when that password changes (as registry sessions do)."""
        if not isinstance(name, str) or not 1 <= len(name) <= 128 or not name.isprintable():
            raise InvalidRequest("a token name is 1 to 128 printable characters")
        if expires_in_days is not None and expires_in_hours is not None:
            raise InvalidRequest("give expires_in_days or expires_in_hours, not both")
        if expires_in_hours is not None:
            if not 1 <= expires_in_hours <= MAX_TOKEN_DAYS * 24:
                raise InvalidRequest(f"expires_in_hours must be from 1 to {MAX_TOKEN_DAYS * 24}")
            lifetime = timedelta(hours=expires_in_hours)
        else:
            days = DEFAULT_TOKEN_DAYS if expires_in_days is None else expires_in_days
            if not 1 <= days <= MAX_TOKEN_DAYS:
                raise InvalidRequest(f"expires_in_days must be from 1 to {MAX_TOKEN_DAYS}")
            lifetime = timedelta(days=days)
        parts = access_tokens.generate()
        secret_hash = hash_password(parts.secret)
        now = datetime.now(UTC)
        with self._change() as conn:
            owner = self._token_owner(conn, actor, principal)
            if owner.disabled:
                raise Conflict(f"{owner.username!r} is disabled")
            active = [
                t
                for t in access_q.list_tokens(conn, owner.id)
                if t.revoked_at is None and _utc(t.expires_at) > now
            ]
            if any(t.name == name for t in active):
                raise Conflict(f"{owner.username!r} already has an active token named {name!r}")
            expires = now + lifetime
            mark = None
            if ends_with_password:
                mark = actor.principal.password_mark
                if mark is None or actor.principal.id != owner.id:
                    raise InvalidRequest(
                        "a token that ends with the password is made by signing in with"
                        " your own password"
                    )
            parent = self._minting_token(conn, actor, owner)
            if parent is not None:  # a token minting for itself: no longer-lived than it
                expires = min(expires, _utc(parent.expires_at))
            access_q.create_token(
                conn,
                parts.id,
                owner.id,
                name,
                secret_hash,
                now,
                expires,
                parent.id if parent else None,
                mark,
            )
            self._audit.record(
                conn,
                actor,
                "token.created",
                owner.username,
                {"token_id": parts.id, "name": name, "expires_at": expires.isoformat()},
            )
            view = TokenView(parts.id, name, owner.username, now, expires, None, mark is not None)
        return NewToken(view, str(parts))

    def _minting_token(
        self, conn: Connection, actor: Actor, owner: UserRecord
    ) -> TokenRecord | None:
        """The access token the caller signed in with, when it mints a token for itself: the
        new one is its child (it expires no later, and is revoked with it), so a leaked token
        cannot be turned into a longer-lived credential that survives its revocation."""
        if actor.principal.token_id is None or actor.principal.id != owner.id:
            return None
        return access_q.get_token(conn, actor.principal.token_id)

    def revoke_token(self, actor: Actor, token_id: str) -> None:
        with self._change() as conn:
            token = access_q.get_token(conn, token_id) if len(token_id) <= 16 else None
            owner = self._user_by_id(conn, token.user_id) if token else None
            if token is None or owner is None:
                raise NotFound(f"no access token with id {token_id[:40]!r}")
            if owner.username != actor.name and not actor.principal.is_admin:
                raise NotFound(f"no access token with id {token_id[:40]!r}")
            now = datetime.now(UTC)
            if not access_q.revoke_token(conn, token_id, now):
                raise Conflict(f"access token {token_id!r} is already revoked")
            children = [
                c
                for c in access_q.descendants(conn, token_id)
                if access_q.revoke_token(conn, c, now)
            ]
            detail: dict[str, object] = {"token_id": token_id}
            if children:
                detail["also_revoked"] = children  # minted from it
            self._audit.record(conn, actor, "token.revoked", owner.username, detail)

    def _user_by_id(self, conn: Connection, user_id: int) -> UserRecord | None:
        for user in user_q.list_users(conn):
            if user.id == user_id:
                return user
        return None

"""Token edge cases on a real ``tidegate serve`` (docs/access.md: access tokens, refresh tokens,
failed-login throttling, audit).

- A registry JWT expires in the middle of a chunked upload: the client re-authenticates (with its
  refresh token, later with Basic credentials again) and the upload completes with the right
  digest. The server runs with the smallest ``token_ttl`` the config allows.
- A revoked access token (``tdg_<id>_<secret>``) is refused at once: as a Basic password on
  ``/v2``, at ``/auth/token``, as a refresh-token source, as a Bearer on ``/api/v1``; and a JWT
  obtained with it before the revocation is refused on its next use. That server runs two
  worker processes, and every check is repeated, so each process is seen to refuse.
- The refresh-token flow as containerd and podman drive it (OAuth2 ``POST /auth/token``);
  a refresh token stops working when its user is disabled or deleted.
- An access token expires after ``expires_in_days`` (1..3650) or ``expires_in_hours`` (1..87600),
  at least an hour from now, so expiry is tested on the JWT.
- Failed-login throttling: ``login_failures`` (10, the default) failures from one address, then
  429 TOOMANYREQUESTS with Retry-After, also for the right password, until the window (made short
  with TIDEGATE_LOGIN_FAILURE_WINDOW) has passed.
- Audit: ``login.failed``, ``login.throttled`` and ``token.revoked`` events, with actor and
  address.
- No password, access token, JWT or refresh token used here ever appears in a server log (the
  main server logs at debug level).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.support.server import RunningServer, tidegate_server

TOKEN_RE = re.compile(r"^tdg_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
REPEAT = 6  # requests per check on the two-worker server: each process has to answer some
WINDOW = 15  # seconds: the failed-login window of the throttling server

# Every secret the tests hand to a server, per server log; checked by the log tests.
SECRETS: dict[str, set[str]] = {}


def remember(server: RunningServer, *values: str) -> None:
    SECRETS.setdefault(str(server.log_path), set()).update(v for v in values if v)


def min_token_ttl() -> int:
    """The smallest ``token_ttl`` the config accepts (config.py's ``ge`` bound)."""
    from tidegate.config import Settings

    for bound in Settings.model_fields["token_ttl"].metadata:
        ge = getattr(bound, "ge", None)
        if ge is not None:
            return int(ge)
    raise AssertionError("token_ttl has no lower bound in config.py")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def v2_error(r: httpx.Response) -> str:
    try:
        return str(r.json()["errors"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return f"(no /v2 error body: {r.status_code} {r.text[:120]!r})"


def api_error(r: httpx.Response) -> str:
    try:
        return str(r.json()["code"])
    except (ValueError, KeyError, TypeError):
        return f"(no API error body: {r.status_code} {r.text[:120]!r})"


def poll(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for: {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------- people and tokens
def create_user(server: RunningServer, groups: list[str], prefix: str = "u") -> tuple[str, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    password = f"Pw-{uuid.uuid4().hex}"
    with server.client() as admin:
        r = admin.post(
            "/api/v1/users", json={"username": name, "password": password, "groups": groups}
        )
    assert r.status_code == 201, f"POST /api/v1/users: {r.status_code} {r.text}"
    remember(server, password)
    return name, password


def create_token(server: RunningServer, auth: tuple[str, str], name: str) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/v1/tokens", json={"name": name}, auth=auth, timeout=30)
    assert r.status_code == 201, f"POST /api/v1/tokens: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    remember(server, body["token"])
    return body


def registry_token(server: RunningServer, auth: tuple[str, str], *scopes: str) -> httpx.Response:
    """GET /auth/token with Basic credentials (docker, skopeo, podman without a refresh token)."""
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("service", "tidegate"),
        *(("scope", s) for s in scopes),
    ]
    r = httpx.get(f"{server.url}/auth/token", params=params, auth=auth, timeout=30)
    if r.status_code == 200:
        remember(server, r.json()["token"])
    return r


def oauth(server: RunningServer, **form: str) -> httpx.Response:
    """The OAuth2 form POST containerd and podman send to the token endpoint."""
    r = httpx.post(f"{server.url}/auth/token", data=form, timeout=30)
    if r.status_code == 200:
        body = r.json()
        remember(server, body.get("access_token", ""), body.get("refresh_token", ""))
    return r


def password_grant(
    server: RunningServer, username: str, password: str, scope: str
) -> httpx.Response:
    return oauth(
        server,
        grant_type="password",
        username=username,
        password=password,
        service="tidegate",
        scope=scope,
        client_id="containerd-client",
        access_type="offline",
    )


def refresh_grant(server: RunningServer, refresh_token: str, scope: str) -> httpx.Response:
    return oauth(
        server,
        grant_type="refresh_token",
        refresh_token=refresh_token,
        service="tidegate",
        scope=scope,
        client_id="containerd-client",
    )


def can_push(server: RunningServer, token: str, name: str) -> httpx.Response:
    """A monolithic blob upload with the JWT: 201 when the token is accepted and grants push."""
    data = f"probe {uuid.uuid4()}".encode()
    return httpx.post(
        f"{server.url}/v2/{name}/blobs/uploads/",
        params={"digest": sha256(data)},
        content=data,
        headers=bearer(token),
        timeout=30,
    )


# ---------------------------------------------------------------------- servers
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Two worker processes, debug logging, the default token lifetime. The revocation checks
    here fail many credential checks on purpose, so throttling is set out of their way (it has
    its own server below)."""
    env = {
        "TIDEGATE_WORKERS": "2",
        "TIDEGATE_LOG_LEVEL": "debug",
        "TIDEGATE_LOGIN_FAILURES": "10000",
    }
    with tidegate_server(tmp_path_factory.mktemp("tokens") / "data", env=env) as running:
        remember(running, running.password)
        yield running


@pytest.fixture(scope="module")
def short_ttl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"TIDEGATE_TOKEN_TTL": str(min_token_ttl())}
    with tidegate_server(tmp_path_factory.mktemp("ttl") / "data", env=env) as running:
        remember(running, running.password)
        yield running


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One worker (the failure count is per process), the default 10 failures, a short window."""
    env = {"TIDEGATE_LOGIN_FAILURE_WINDOW": str(WINDOW), "TIDEGATE_LOG_LEVEL": "debug"}
    with tidegate_server(tmp_path_factory.mktemp("throttle") / "data", env=env) as running:
        remember(running, running.password)
        yield running


# ---------------------------------------------------------------------- expiry mid-upload
def _location(server: RunningServer, r: httpx.Response) -> str:
    return urljoin(server.url + "/", r.headers["location"])


def _wait_until_expired(server: RunningServer, token: str, status_url: str) -> httpx.Response:
    """Poll the upload's status with ``token`` until the registry refuses the token."""
    answer: list[httpx.Response] = []

    def refused() -> bool:
        r = httpx.get(status_url, headers=bearer(token), timeout=30)
        answer[:] = [r]
        return r.status_code == 401

    poll("the JWT to expire", refused, timeout=min_token_ttl() + 30)
    return answer[0]


def test_jwt_expires_during_a_chunked_push_and_the_client_reauthenticates(
    short_ttl: RunningServer,
) -> None:
    server = short_ttl
    user, password = create_user(server, ["developers"])
    name = f"dev/tokens/chunked-{uuid.uuid4().hex[:8]}"
    scope = f"repository:{name}:pull,push"
    chunks = [os.urandom(256 * 1024), os.urandom(200 * 1024), os.urandom(100 * 1024 + 7)]
    whole = b"".join(chunks)

    login = password_grant(server, user, password, scope)
    assert login.status_code == 200, login.text
    assert login.json()["expires_in"] == min_token_ttl()
    token, refresh = login.json()["access_token"], login.json()["refresh_token"]

    r = httpx.post(f"{server.url}/v2/{name}/blobs/uploads/", headers=bearer(token), timeout=30)
    assert r.status_code == 202, r.text
    location = _location(server, r)

    def patch(chunk_no: int, token: str, url: str) -> httpx.Response:
        start = sum(len(c) for c in chunks[:chunk_no])
        chunk = chunks[chunk_no]
        return httpx.patch(
            url,
            content=chunk,
            headers={
                **bearer(token),
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(chunk) - 1}",
            },
            timeout=60,
        )

    r = patch(0, token, location)
    assert r.status_code == 202, r.text
    location = _location(server, r)

    # the JWT runs out while the upload is open
    expired = _wait_until_expired(server, token, location)
    assert 'error="invalid_token"' in expired.headers["www-authenticate"], expired.headers
    refused = patch(1, token, location)
    assert refused.status_code == 401, refused.text
    assert v2_error(refused) == "UNAUTHORIZED"

    # re-authenticate with the refresh token (as containerd does); the refused chunk was not kept
    again = refresh_grant(server, refresh, scope)
    assert again.status_code == 200, again.text
    token = again.json()["access_token"]
    status = httpx.get(location, headers=bearer(token), timeout=30)
    assert status.status_code == 204, status.text
    assert status.headers["range"] == f"0-{len(chunks[0]) - 1}"
    r = patch(1, token, location)
    assert r.status_code == 202, r.text
    location = _location(server, r)

    # and once more, this time with Basic credentials at /auth/token, as docker does
    _wait_until_expired(server, token, location)
    basic = registry_token(server, (user, password), scope)
    assert basic.status_code == 200, basic.text
    token = basic.json()["token"]
    r = patch(2, token, location)
    assert r.status_code == 202, r.text
    location = _location(server, r)

    done = httpx.put(location, params={"digest": sha256(whole)}, headers=bearer(token), timeout=60)
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == sha256(whole)
    with server.client() as admin:
        blob = admin.get(f"/v2/{name}/blobs/{sha256(whole)}")
    assert blob.status_code == 200
    assert sha256(blob.content) == sha256(whole)


def test_an_expired_jwt_is_refused_and_says_so(short_ttl: RunningServer) -> None:
    server = short_ttl
    name = f"dev/tokens/expiry-{uuid.uuid4().hex[:8]}"
    got = registry_token(server, server.auth, f"repository:{name}:pull,push")
    token = got.json()["token"]
    assert can_push(server, token, name).status_code == 201

    def refused() -> bool:
        return can_push(server, token, name).status_code == 401

    poll("the JWT to expire", refused, timeout=min_token_ttl() + 30)
    r = can_push(server, token, name)
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert "expired" in r.json()["errors"][0]["message"]


# ---------------------------------------------------------------------- access tokens
def test_access_token_shape_and_expiry_bounds(server: RunningServer) -> None:
    user, password = create_user(server, ["developers"])
    created = create_token(server, (user, password), "shape")
    match = TOKEN_RE.fullmatch(created["token"])
    assert match, created["token"]
    assert match.group(1) == created["id"]
    assert created["principal"] == user
    assert created["name"] == "shape"
    assert created["expires_at"]
    for days in (0, -1, 3651):
        r = httpx.post(
            f"{server.url}/api/v1/tokens",
            json={"name": f"bad-{days}", "expires_in_days": days},
            auth=(user, password),
            timeout=30,
        )
        assert r.status_code in (400, 422), (days, r.status_code, r.text)
        assert api_error(r) == "INVALID_REQUEST", r.text
    for days in (1, 3650):
        r = httpx.post(
            f"{server.url}/api/v1/tokens",
            json={"name": f"ok-{days}", "expires_in_days": days},
            auth=(user, password),
            timeout=30,
        )
        assert r.status_code == 201, (days, r.text)
        remember(server, r.json()["token"])
    # the token list never shows a secret again
    listed = httpx.get(f"{server.url}/api/v1/tokens", auth=(user, password), timeout=30)
    assert listed.status_code == 200, listed.text
    assert {t["name"] for t in listed.json()} == {"shape", "ok-1", "ok-3650"}
    assert created["token"] not in listed.text
    assert all("token" not in t for t in listed.json())
    # a token with the same name for the same principal is a conflict
    dup = httpx.post(
        f"{server.url}/api/v1/tokens", json={"name": "shape"}, auth=(user, password), timeout=30
    )
    assert dup.status_code == 409, dup.text
    assert api_error(dup) == "CONFLICT"


def test_short_lived_tokens_expire_in_hours(server: RunningServer) -> None:
    """``expires_in_hours`` (a web UI session, one pipeline run): 1 to 87600, not with days."""
    user, password = create_user(server, ["developers"])
    before = datetime.now().astimezone()
    r = httpx.post(
        f"{server.url}/api/v1/tokens",
        json={"name": "two-hours", "expires_in_hours": 2},
        auth=(user, password),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    remember(server, r.json()["token"])
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert before + timedelta(hours=2) - timedelta(minutes=1) < expires
    assert expires < before + timedelta(hours=2, minutes=1)
    for body in (
        {"name": "zero", "expires_in_hours": 0},
        {"name": "too-long", "expires_in_hours": 87601},
        {"name": "both", "expires_in_hours": 2, "expires_in_days": 1},
    ):
        bad = httpx.post(
            f"{server.url}/api/v1/tokens", json=body, auth=(user, password), timeout=30
        )
        assert bad.status_code in (400, 422), (body, bad.text)
        assert api_error(bad) == "INVALID_REQUEST", bad.text


def test_a_session_token_ends_when_the_password_changes(server: RunningServer) -> None:
    """``ends_with_password`` (the web UI's sign-in): the token stops working when its owner's
    password changes, like registry sessions; an ordinary token keeps working. Only a caller
    signed in with their own password may make one."""
    user, password = create_user(server, ["developers"])
    made = httpx.post(
        f"{server.url}/api/v1/tokens",
        json={"name": "ui session", "expires_in_hours": 8, "ends_with_password": True},
        auth=(user, password),
        timeout=30,
    )
    assert made.status_code == 201, made.text
    session = made.json()["token"]
    ordinary = create_token(server, (user, password), "pipeline")["token"]
    remember(server, session)
    listed = httpx.get(f"{server.url}/api/v1/tokens", headers=bearer(session), timeout=30)
    assert listed.status_code == 200, listed.text
    flags = {t["name"]: t["ends_with_password"] for t in listed.json()}
    assert flags == {"ui session": True, "pipeline": False}

    by_token = httpx.post(
        f"{server.url}/api/v1/tokens",
        json={"name": "sneaky", "ends_with_password": True},
        headers=bearer(ordinary),
        timeout=30,
    )
    assert by_token.status_code == 400 and api_error(by_token) == "INVALID_REQUEST", by_token.text
    with server.client() as admin:
        for_other = admin.post(
            "/api/v1/tokens",
            json={"name": "for-other", "principal": user, "ends_with_password": True},
        )
        assert for_other.status_code == 400, for_other.text

        new_password = f"Pw-{uuid.uuid4().hex}"
        remember(server, new_password)
        changed = admin.patch(f"/api/v1/users/{user}", json={"password": new_password})
        assert changed.status_code == 200, changed.text

    def refused(token: str) -> bool:
        r = httpx.get(f"{server.url}/api/v1/me", headers=bearer(token), timeout=30)
        return r.status_code == 401

    poll("the session token is refused after the password change", lambda: refused(session), 10)
    assert not refused(ordinary)
    v2 = httpx.get(f"{server.url}/v2/", auth=(user, session), timeout=30)
    assert v2.status_code == 401


def test_a_token_minted_with_a_token_cannot_outlive_it(server: RunningServer) -> None:
    """A leaked token must not become a longer-lived credential: what it mints for its owner
    expires no later than it, and is revoked with it."""
    robot = f"sa-{uuid.uuid4().hex[:10]}"
    with server.client() as admin:
        assert admin.post("/api/v1/service-accounts", json={"name": robot}).status_code == 201
        r = admin.post(
            "/api/v1/tokens", json={"name": "ci", "principal": robot, "expires_in_days": 30}
        )
        assert r.status_code == 201, r.text
        parent = r.json()
    remember(server, parent["token"])

    r = httpx.post(
        f"{server.url}/api/v1/tokens",
        json={"name": "persist", "expires_in_days": 3650},
        headers=bearer(parent["token"]),
    )
    assert r.status_code == 201, r.text
    child = r.json()
    remember(server, child["token"])
    assert child["expires_at"] <= parent["expires_at"]
    assert httpx.get(f"{server.url}/v2/", auth=(robot, child["token"])).status_code == 200

    with server.client() as admin:
        assert admin.delete(f"/api/v1/tokens/{parent['id']}").status_code == 204
    assert httpx.get(f"{server.url}/v2/", auth=(robot, child["token"])).status_code == 401
    assert httpx.get(f"{server.url}/v2/", auth=(robot, parent["token"])).status_code == 401


def test_a_revoked_access_token_is_refused_at_once_everywhere(server: RunningServer) -> None:
    user, password = create_user(server, ["developers"])
    created = create_token(server, (user, password), "laptop")
    secret = created["token"]
    name = f"dev/tokens/revoke-{uuid.uuid4().hex[:8]}"
    scope = f"repository:{name}:pull,push"

    # before: the token works as a password everywhere, and as a Bearer on the API
    assert httpx.get(f"{server.url}/v2/", auth=(user, secret), timeout=30).status_code == 200
    got = registry_token(server, (user, secret), scope)
    assert got.status_code == 200, got.text
    jwt_from_token = got.json()["token"]
    assert can_push(server, jwt_from_token, name).status_code == 201
    offline = password_grant(server, user, secret, scope)
    assert offline.status_code == 200, offline.text
    refresh_from_token = offline.json()["refresh_token"]
    assert refresh_grant(server, refresh_from_token, scope).status_code == 200
    me = httpx.get(f"{server.url}/api/v1/me", headers=bearer(secret), timeout=30)
    assert me.status_code == 200, me.text
    assert me.json()["name"] == user
    jwt_from_password = registry_token(server, (user, password), scope).json()["token"]

    r = httpx.delete(
        f"{server.url}/api/v1/tokens/{created['id']}", auth=(user, password), timeout=30
    )
    assert r.status_code == 204, r.text

    for attempt in range(REPEAT):
        basic = httpx.get(f"{server.url}/v2/", auth=(user, secret), timeout=30)
        assert basic.status_code == 401, (attempt, basic.status_code, basic.text)
        assert v2_error(basic) == "UNAUTHORIZED"
        assert registry_token(server, (user, secret), scope).status_code == 401, attempt
        assert password_grant(server, user, secret, scope).status_code == 401, attempt
        pushed = can_push(server, jwt_from_token, name)
        assert pushed.status_code == 401, (attempt, pushed.status_code, pushed.text)
        assert 'error="invalid_token"' in pushed.headers["www-authenticate"]
        refreshed = refresh_grant(server, refresh_from_token, scope)
        assert refreshed.status_code == 401, (attempt, refreshed.status_code, refreshed.text)
        assert refreshed.json()["error"] == "invalid_grant"
        api = httpx.get(f"{server.url}/api/v1/me", headers=bearer(secret), timeout=30)
        assert api.status_code == 401, (attempt, api.status_code, api.text)
        assert api_error(api) == "UNAUTHORIZED"
        assert "basic" in api.headers["www-authenticate"].lower()
        # only that token is gone: the password and what it obtained keep working
        assert can_push(server, jwt_from_password, name).status_code == 201, attempt

    listed = httpx.get(f"{server.url}/api/v1/tokens", auth=(user, password), timeout=30)
    (entry,) = [t for t in listed.json() if t["id"] == created["id"]]
    assert entry["revoked_at"]


def test_admin_revokes_someone_elses_token_and_users_cannot(server: RunningServer) -> None:
    owner, owner_pw = create_user(server, ["developers"])
    other, other_pw = create_user(server, ["developers"])
    created = create_token(server, (owner, owner_pw), "ci")
    r = httpx.delete(f"{server.url}/api/v1/tokens/{created['id']}", auth=(other, other_pw))
    assert r.status_code in (403, 404), r.text
    assert httpx.get(f"{server.url}/v2/", auth=(owner, created["token"])).status_code == 200
    with server.client() as admin:
        assert admin.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    assert httpx.get(f"{server.url}/v2/", auth=(owner, created["token"])).status_code == 401


# ---------------------------------------------------------------------- refresh tokens
def test_refresh_token_flow_as_containerd_and_podman_drive_it(server: RunningServer) -> None:
    user, password = create_user(server, ["developers"])
    a = f"dev/tokens/refresh-a-{uuid.uuid4().hex[:8]}"
    b = f"dev/tokens/refresh-b-{uuid.uuid4().hex[:8]}"
    # containerd puts every scope into one space-separated form field
    scope = f"repository:{a}:pull,push repository:{b}:pull repository:prod/x:pull,push"
    login = password_grant(server, user, password, scope)
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
    granted = set(body["scope"].split())
    assert f"repository:{a}:pull,push" in granted
    assert f"repository:{b}:pull" in granted
    assert not any(
        s.startswith("repository:prod/x:") and s.endswith(("pull", "push")) for s in granted
    )
    assert can_push(server, body["access_token"], a).status_code == 201

    again = refresh_grant(server, body["refresh_token"], f"repository:{a}:pull,push")
    assert again.status_code == 200, again.text
    assert again.json()["access_token"] != body["access_token"]
    assert can_push(server, again.json()["access_token"], a).status_code == 201
    # the refreshed token grants what the user may do, no more
    prod = refresh_grant(server, body["refresh_token"], "repository:prod/x:pull,push")
    assert prod.status_code == 200, prod.text
    assert can_push(server, prod.json()["access_token"], "prod/x").status_code == 401


def test_refresh_is_refused_once_the_user_is_disabled_and_again_after_enabling(
    server: RunningServer,
) -> None:
    user, password = create_user(server, ["developers"])
    name = f"dev/tokens/disabled-{uuid.uuid4().hex[:8]}"
    scope = f"repository:{name}:pull,push"
    login = password_grant(server, user, password, scope)
    refresh, jwt = login.json()["refresh_token"], login.json()["access_token"]
    assert can_push(server, jwt, name).status_code == 201
    with server.client() as admin:
        r = admin.patch(f"/api/v1/users/{user}", json={"disabled": True})
        assert r.status_code == 200, r.text
        assert r.json()["disabled"] is True
    for attempt in range(REPEAT):
        refused = refresh_grant(server, refresh, scope)
        assert refused.status_code == 401, (attempt, refused.text)
        assert refused.json()["error"] == "invalid_grant"
        assert can_push(server, jwt, name).status_code == 401, attempt
        assert httpx.get(f"{server.url}/v2/", auth=(user, password)).status_code == 401
        assert password_grant(server, user, password, scope).status_code == 401
    with server.client() as admin:
        r = admin.patch(f"/api/v1/users/{user}", json={"disabled": False})
        assert r.status_code == 200, r.text
    assert httpx.get(f"{server.url}/v2/", auth=(user, password)).status_code == 200


def test_refresh_is_refused_once_the_user_is_deleted(server: RunningServer) -> None:
    user, password = create_user(server, ["developers"])
    name = f"dev/tokens/deleted-{uuid.uuid4().hex[:8]}"
    scope = f"repository:{name}:pull,push"
    login = password_grant(server, user, password, scope)
    refresh, jwt = login.json()["refresh_token"], login.json()["access_token"]
    created = create_token(server, (user, password), "gone")
    assert can_push(server, jwt, name).status_code == 201
    with server.client() as admin:
        assert admin.delete(f"/api/v1/users/{user}").status_code == 204
    for attempt in range(REPEAT):
        assert refresh_grant(server, refresh, scope).status_code == 401, attempt
        assert can_push(server, jwt, name).status_code == 401, attempt
        assert httpx.get(f"{server.url}/v2/", auth=(user, created["token"])).status_code == 401
    # a new user with the same name (the next one created) does not inherit the old tokens
    with server.client() as admin:
        r = admin.post(
            "/api/v1/users",
            json={"username": user, "password": password, "groups": ["developers"]},
        )
        assert r.status_code == 201, r.text
    assert refresh_grant(server, refresh, scope).status_code == 401
    assert can_push(server, jwt, name).status_code == 401
    assert httpx.get(f"{server.url}/v2/", auth=(user, created["token"])).status_code == 401


def test_a_password_change_ends_the_sessions_opened_with_the_old_password(
    server: RunningServer,
) -> None:
    """docker keeps only a refresh token after login: a leaked password, once changed, must not
    leave that session (or a JWT) working. Access tokens are separate credentials and stay."""
    user, password = create_user(server, ["developers"])
    name = f"dev/tokens/pwchange-{uuid.uuid4().hex[:8]}"
    scope = f"repository:{name}:pull,push"
    login = password_grant(server, user, password, scope)
    refresh, jwt = login.json()["refresh_token"], login.json()["access_token"]
    kept = create_token(server, (user, password), "kept")
    assert can_push(server, jwt, name).status_code == 201

    with server.client() as admin:
        r = admin.patch(f"/api/v1/users/{user}", json={"password": "a brand new password"})
        assert r.status_code == 200, r.text

    for attempt in range(REPEAT):
        assert refresh_grant(server, refresh, scope).status_code == 401, attempt
        assert can_push(server, jwt, name).status_code == 401, attempt
    assert httpx.get(f"{server.url}/v2/", auth=(user, password)).status_code == 401
    assert httpx.get(f"{server.url}/v2/", auth=(user, "a brand new password")).status_code == 200
    assert httpx.get(f"{server.url}/v2/", auth=(user, kept["token"])).status_code == 200
    renewed = password_grant(server, user, "a brand new password", scope)
    assert refresh_grant(server, renewed.json()["refresh_token"], scope).status_code == 200


def test_token_revocation_is_audited_with_actor_and_address(server: RunningServer) -> None:
    user, password = create_user(server, ["developers"])
    created = create_token(server, (user, password), "audited")
    r = httpx.delete(f"{server.url}/api/v1/tokens/{created['id']}", auth=(user, password))
    assert r.status_code == 204
    with server.client() as admin:
        r = admin.get("/api/v1/audit", params={"action": "token.revoked"})
        assert r.status_code == 200, r.text
        events = [e for e in r.json() if e["actor"] == user]
        assert events, r.json()
        event = events[0]
        assert event["action"] == "token.revoked"
        assert event["address"] == "127.0.0.1"
        assert event["outcome"] == "ok"
        assert created["id"] in str(event["target"]) or created["id"] in str(event.get("detail"))
        assert created["token"] not in r.text
        created_events = admin.get("/api/v1/audit", params={"action": "token.created"}).json()
        assert any(e["actor"] == user for e in created_events), created_events
        # newest first
        everything = admin.get("/api/v1/audit").json()
        stamps = [e["at"] for e in everything]
        assert stamps == sorted(stamps, reverse=True)


# ---------------------------------------------------------------------- throttling
def test_failed_logins_are_throttled_then_audited(throttled: RunningServer) -> None:
    server = throttled
    user, password = create_user(server, ["developers"])
    wrong = [f"wrong-{i}-{uuid.uuid4().hex[:6]}" for i in range(11)]
    bogus_token = f"tdg_{'a' * 12}_{'B' * 43}"
    remember(server, *wrong, bogus_token)
    url = server.url
    tries: list[Callable[[str], httpx.Response]] = [
        lambda pw: httpx.get(f"{url}/v2/", auth=(user, pw)),
        lambda pw: httpx.get(f"{url}/auth/token", params={"service": "tidegate"}, auth=(user, pw)),
        lambda pw: password_grant(server, user, pw, "repository:dev/x:pull"),
        lambda pw: httpx.get(f"{url}/api/v1/me", auth=(user, pw)),
    ]
    # 10 failures from one address, through every door that checks a credential
    for i in range(10):
        attempt = bogus_token if i == 9 else wrong[i]
        r = tries[i % len(tries)](attempt)
        assert r.status_code == 401, (i, r.status_code, r.text)
    # the 11th is throttled, before the password is even checked
    r = httpx.get(f"{url}/v2/", auth=(user, wrong[10]))
    assert r.status_code == 429, (r.status_code, r.text)
    assert v2_error(r) == "TOOMANYREQUESTS"
    retry_after = int(r.headers["retry-after"])
    assert 0 < retry_after <= WINDOW
    # the right password is refused too, at every door, while the address is throttled
    for i, door in enumerate(tries):
        r = door(password)
        assert r.status_code == 429, (i, r.status_code, r.text)
        assert int(r.headers["retry-after"]) > 0, (i, r.headers)
    assert api_error(httpx.get(f"{url}/api/v1/me", auth=(user, password))) == "TOOMANYREQUESTS"
    # the window passes (wait what the server said, then poll): the right password works again
    time.sleep(int(r.headers["retry-after"]))
    poll(
        "the throttling to end",
        lambda: httpx.get(f"{url}/v2/", auth=(user, password)).status_code == 200,
        timeout=WINDOW + 10,
        interval=0.5,
    )

    with server.client() as admin:

        def events(action: str) -> list[dict[str, Any]]:
            r = admin.get("/api/v1/audit", params={"action": action})
            assert r.status_code == 200, r.text
            return [e for e in r.json() if e["actor"] == user]

        poll("10 login.failed events", lambda: len(events("login.failed")) >= 10, timeout=15)
        failed = events("login.failed")
        assert len(failed) == 10, failed
        for event in failed:
            assert event["address"] == "127.0.0.1", event
            assert event["outcome"] == "refused", event
        poll("a login.throttled event", lambda: bool(events("login.throttled")), timeout=15)
        throttled_events = events("login.throttled")
        assert len(throttled_events) == 1, throttled_events  # audited once per throttling
        assert throttled_events[0]["address"] == "127.0.0.1"
        text = admin.get("/api/v1/audit").text
        for secret in (*wrong, bogus_token, password):
            assert secret not in text


# ---------------------------------------------------------------------- secrets in logs
def _assert_no_secrets_in_log(server: RunningServer) -> None:
    log = server.log()
    secrets = SECRETS.get(str(server.log_path), set())
    assert secrets, "no secrets were recorded for this server: run the whole module"
    leaked = sorted(s for s in secrets if s in log)
    # a token's secret part alone must not appear either
    for s in secrets:
        m = TOKEN_RE.fullmatch(s)
        if m and m.group(2) in log:
            leaked.append(f"secret part of {m.group(1)}")
    assert not leaked, f"{len(leaked)} secret(s) in {server.log_path}: " + ", ".join(
        x[:12] + "..." for x in leaked
    )


def test_no_secret_reaches_the_server_log(server: RunningServer) -> None:
    # exercise the paths once more here, so this test stands on its own
    user, password = create_user(server, ["developers"])
    created = create_token(server, (user, password), "log")
    httpx.get(f"{server.url}/v2/", auth=(user, "not-" + password))
    remember(server, "not-" + password)
    registry_token(server, (user, created["token"]), "repository:dev/log/x:pull")
    password_grant(server, user, created["token"], "repository:dev/log/x:pull")
    httpx.delete(f"{server.url}/api/v1/tokens/{created['id']}", auth=(user, password))
    httpx.get(f"{server.url}/v2/", auth=(user, created["token"]))
    _assert_no_secrets_in_log(server)


def test_no_secret_reaches_the_throttled_servers_log(throttled: RunningServer) -> None:
    _assert_no_secrets_in_log(throttled)


def test_no_secret_reaches_the_short_ttl_servers_log(short_ttl: RunningServer) -> None:
    _assert_no_secrets_in_log(short_ttl)

"""The management API for identities and access (/api/v1), against a running server: users,
service accounts, groups, access tokens, permission targets, the caller's view, the audit log,
and the answers a script gets when it sends something wrong."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer, tidegate_server

API = "/api/v1"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # wrong credentials are part of these tests: do not let them throttle the others
    env = {"TIDEGATE_LOGIN_FAILURES": "10000"}
    with tidegate_server(tmp_path_factory.mktemp("api") / "data", env=env) as running:
        yield running


@pytest.fixture
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + API, auth=server.auth, timeout=30) as c:
        yield c


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client_as(server: RunningServer, username: str, secret: str) -> httpx.Client:
    return httpx.Client(base_url=server.url + API, auth=(username, secret), timeout=30)


def make_user(admin: httpx.Client, groups: list[str] | None = None, **extra: Any) -> str:
    name = unique("u")
    body = {"username": name, "password": PASSWORD, "groups": groups or [], **extra}
    r = admin.post("/users", json=body)
    assert r.status_code == 201, r.text
    return name


def make_token(client: httpx.Client, **body: Any) -> dict[str, Any]:
    r = client.post("/tokens", json={"name": unique("t"), **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def error(r: httpx.Response) -> tuple[int, str, str]:
    body = r.json()
    return r.status_code, body["code"], body["message"]


# --- the document ------------------------------------------------------------------------

EXPECTED_PATHS = {
    "/api/v1/me": {"get"},
    "/api/v1/me/permissions": {"get"},
    "/api/v1/me/password": {"put"},
    "/api/v1/users": {"get", "post"},
    "/api/v1/users/{name}": {"get", "patch", "delete"},
    "/api/v1/service-accounts": {"get", "post"},
    "/api/v1/service-accounts/{name}": {"get", "patch", "delete"},
    "/api/v1/groups": {"get", "post"},
    "/api/v1/groups/{name}": {"get", "delete"},
    "/api/v1/groups/{name}/members/{principal}": {"put", "delete"},
    "/api/v1/tokens": {"get", "post"},
    "/api/v1/tokens/{token_id}": {"delete"},
    "/api/v1/permissions": {"get", "post"},
    "/api/v1/permissions/{name}": {"get", "put", "delete"},
    "/api/v1/audit": {"get"},
    "/api/v1/repositories": {"get", "post"},
    "/api/v1/repositories/{key}": {"get", "patch", "delete"},
    "/api/v1/repositories/{key}/resolve": {"get"},
    "/api/v1/repositories/{key}/gate": {"get", "put"},
    "/api/v1/promotions": {"get", "post"},
    "/api/v1/promotions/preview": {"get"},
    "/api/v1/properties": {"get", "put", "patch", "delete"},
    "/api/v1/properties/values": {"post"},
    "/api/v1/search": {"get"},
    "/api/v1/repositories/{key}/retention": {"get", "put", "delete"},
    "/api/v1/cleanup/plans": {"get", "post"},
    "/api/v1/cleanup/plans/{plan_id}": {"get"},
    "/api/v1/cleanup/plans/{plan_id}/apply": {"post"},
    "/api/v1/trash": {"get"},
    "/api/v1/trash/{entry_id}": {"delete"},
    "/api/v1/trash/{entry_id}/restore": {"post"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{webhook_id}": {"get", "patch", "delete"},
    "/api/v1/webhooks/{webhook_id}/deliveries": {"get"},
    "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": {"post"},
    "/api/v1/notifications": {"get", "post"},
    "/api/v1/notifications/{notification_id}": {"delete"},
    "/api/v1/gc": {"get", "post"},
    "/api/v1/jobs/{job_id}": {"get"},
    "/api/v1/storage": {"get"},
    "/api/v1/storage/{key}": {"get"},
    "/artifactory/api/docker/{repo_key}/v2/promote": {"post"},
    "/artifactory/api/storage/{repo_key}/{path}": {"get", "put", "delete"},
}


def test_openapi_document_lists_every_path_and_how_to_authenticate(
    server: RunningServer,
) -> None:
    r = httpx.get(f"{server.url}{API}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = {path: set(ops) for path, ops in doc["paths"].items()}
    assert paths == EXPECTED_PATHS
    assert set(doc["components"]["securitySchemes"]) == {"basic", "bearer"}
    create_user = doc["paths"]["/api/v1/users"]["post"]
    assert "201" in create_user["responses"] and "409" in create_user["responses"]
    assert httpx.get(f"{server.url}{API}/docs").status_code == 200


# --- authentication ----------------------------------------------------------------------


def test_no_credentials_get_401_with_a_basic_challenge(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}{API}/me")
    assert error(r)[:2] == (401, "UNAUTHORIZED")
    assert r.headers["www-authenticate"] == 'Basic realm="tidegate"'


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic " + "YWRtaW46d3Jvbmc="},  # admin:wrong
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer tdg_aaaaaaaaaaaa_" + "A" * 43},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Token abc"},
    ],
    ids=["wrong-password", "malformed-basic", "unknown-token", "jwt-like", "other-scheme"],
)
def test_wrong_credentials_get_401(server: RunningServer, headers: dict[str, str]) -> None:
    r = httpx.get(f"{server.url}{API}/users", headers=headers)
    assert error(r)[:2] == (401, "UNAUTHORIZED")
    assert r.headers["www-authenticate"] == 'Basic realm="tidegate"'


def test_me_names_the_caller(admin: httpx.Client) -> None:
    assert admin.get("/me").json() == {
        "name": "admin",
        "kind": "user",
        "is_admin": True,
        "groups": [],
    }


def test_non_admins_are_refused_admin_calls_but_see_themselves(
    server: RunningServer, admin: httpx.Client
) -> None:
    name = make_user(admin, groups=["testers"])
    with client_as(server, name, PASSWORD) as user:
        assert user.get("/me").json()["groups"] == ["testers"]
        for method, path in [
            ("GET", "/users"),
            ("POST", "/groups"),
            ("GET", "/service-accounts"),
            ("GET", "/permissions"),
            ("DELETE", "/users/admin"),
            ("GET", "/audit"),
        ]:
            r = user.request(method, path, json={"name": "x"} if method == "POST" else None)
            assert error(r)[:2] == (403, "DENIED"), (method, path)
    # the refusal is audited (by a background writer: give it a moment)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = admin.get("/audit", params={"actor": name, "action": "access.refused"}).json()
        if events:
            break
        time.sleep(0.2)
    assert events and events[0]["outcome"] == "refused"
    assert "admins only" in events[0]["reason"]


def test_too_many_failed_logins_get_429_with_retry_after(tmp_path: Path) -> None:
    env = {"TIDEGATE_LOGIN_FAILURES": "3", "TIDEGATE_LOGIN_FAILURE_WINDOW": "60"}
    with tidegate_server(tmp_path / "data", env=env) as running:
        url = f"{running.url}{API}/me"
        for _ in range(3):
            assert httpx.get(url, auth=("admin", "wrong-password")).status_code == 401
        r = httpx.get(url, auth=running.auth)  # even the right password, from this address
        assert error(r)[:2] == (429, "TOOMANYREQUESTS")
        assert 1 <= int(r.headers["retry-after"]) <= 60


# --- users -------------------------------------------------------------------------------


def test_user_lifecycle(server: RunningServer, admin: httpx.Client) -> None:
    name = unique("alice")
    r = admin.post("/users", json={"username": name, "password": PASSWORD})
    assert r.status_code == 201
    created = r.json()
    assert created["name"] == name
    assert created["kind"] == "user"
    assert (created["is_admin"], created["disabled"], created["groups"]) == (False, False, [])
    at = datetime.fromisoformat(created["created_at"])
    assert abs(at - datetime.now(UTC)) < timedelta(minutes=5)
    assert "password" not in r.text and PASSWORD not in r.text
    assert name in [u["name"] for u in admin.get("/users").json()]
    assert admin.get(f"/users/{name}").json() == created

    r = admin.patch(f"/users/{name}", json={"groups": ["developers", "testers"]})
    assert r.status_code == 200
    assert r.json()["groups"] == ["developers", "testers"]

    new_password = secrets.token_urlsafe(16)
    assert admin.patch(f"/users/{name}", json={"password": new_password}).status_code == 200
    assert httpx.get(f"{server.url}/v2/", auth=(name, PASSWORD)).status_code == 401
    assert httpx.get(f"{server.url}/v2/", auth=(name, new_password)).status_code == 200

    assert admin.patch(f"/users/{name}", json={"disabled": True}).json()["disabled"] is True
    assert httpx.get(f"{server.url}/v2/", auth=(name, new_password)).status_code == 401
    admin.patch(f"/users/{name}", json={"disabled": False})

    assert admin.delete(f"/users/{name}").status_code == 204
    assert error(admin.get(f"/users/{name}"))[:2] == (404, "NOT_FOUND")
    assert httpx.get(f"{server.url}/v2/", auth=(name, new_password)).status_code == 401


@pytest.mark.parametrize(
    "username", ["Alice", "-dash-first", "has space", "a" * 65, "", "anonymous", "x/y"]
)
def test_malformed_usernames_are_refused(admin: httpx.Client, username: str) -> None:
    r = admin.post("/users", json={"username": username, "password": PASSWORD})
    status, code, message = error(r)
    assert (status, code) == (400, "INVALID_REQUEST")
    assert "name" in message or "reserved" in message


def test_short_passwords_are_refused(admin: httpx.Client) -> None:
    r = admin.post("/users", json={"username": unique("short"), "password": "1234567"})
    status, code, message = error(r)
    assert (status, code) == (400, "INVALID_REQUEST")
    assert "8" in message


def test_duplicate_names_conflict_across_users_and_service_accounts(
    admin: httpx.Client,
) -> None:
    name = make_user(admin)
    r = admin.post("/users", json={"username": name, "password": PASSWORD})
    assert error(r)[:2] == (409, "CONFLICT")
    r = admin.post("/service-accounts", json={"name": name})
    assert error(r)[:2] == (409, "CONFLICT")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/nobody"),
        ("PATCH", "/users/nobody"),
        ("DELETE", "/users/nobody"),
        ("GET", "/service-accounts/nobody"),
        ("DELETE", "/service-accounts/nobody"),
        ("GET", "/groups/nobody"),
        ("DELETE", "/groups/nobody"),
        ("PUT", "/groups/nobody/members/admin"),
        ("PUT", "/groups/developers/members/nobody"),
        ("GET", "/permissions/nobody"),
        ("PUT", "/permissions/nobody"),
        ("DELETE", "/permissions/nobody"),
        ("DELETE", "/tokens/aaaaaaaaaaaa"),
        ("GET", "/no-such-endpoint"),
    ],
)
def test_unknown_names_are_404(admin: httpx.Client, method: str, path: str) -> None:
    body: dict[str, Any] | None = None
    if method == "PATCH":
        body = {"disabled": False}
    elif method == "PUT" and path.startswith("/permissions"):
        body = {"name": "nobody", "repositories": ["dev"]}
    r = admin.request(method, path, json=body)
    assert error(r)[:2] == (404, "NOT_FOUND")


def test_the_last_admin_cannot_be_deleted_or_demoted(admin: httpx.Client) -> None:
    status, code, message = error(admin.delete("/users/admin"))
    assert (status, code) == (409, "CONFLICT")
    assert "last admin" in message
    assert error(admin.patch("/users/admin", json={"is_admin": False}))[:2] == (409, "CONFLICT")
    assert error(admin.patch("/users/admin", json={"disabled": True}))[:2] == (409, "CONFLICT")
    # with a second admin, the first may go (and the second is then the last)
    second = make_user(admin, is_admin=True)
    assert admin.delete(f"/users/{second}").status_code == 204
    assert admin.get("/users/admin").json()["is_admin"] is True


# --- what a script sends wrong -------------------------------------------------------------

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HUGE = b'{"username": "' + b"a" * 2_000_000 + b'"}'
BAD_BODIES: list[tuple[str, bytes, str, int, str]] = [
    ("garbage", b"{not json", JSON, 400, "not valid JSON"),
    ("binary", b"\xff\xfe\x00\x01", JSON, 400, "JSON"),
    ("array", b"[1, 2]", JSON, 400, "JSON object"),
    ("string", b'"alice"', JSON, 400, "JSON object"),
    ("form", b"username=alice", FORM, 400, "JSON object"),
    ("empty", b"", JSON, 400, "JSON object"),
    ("huge", HUGE, JSON, 400, "larger"),
    ("wrong-type", b'{"username": "x", "password": 12345678}', JSON, 422, "password"),
    (
        "bool-as-text",
        b'{"username": "x", "password": "p", "is_admin": "yes"}',
        JSON,
        422,
        "is_admin",
    ),
    ("missing", b'{"password": "correct-horse"}', JSON, 422, "username"),
    ("unknown-field", b'{"username": "x", "password": "y", "admin": true}', JSON, 422, "'admin'"),
    ("nested", b'{"username": {"a": [1]}, "password": "y"}', JSON, 422, "username"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [b[1:] for b in BAD_BODIES],
    ids=[b[0] for b in BAD_BODIES],
)
def test_bad_bodies_are_4xx_with_a_message_never_500(
    admin: httpx.Client, body: bytes, content_type: str, status: int, words: str
) -> None:
    r = admin.post("/users", content=body, headers={"Content-Type": content_type})
    got, code, message = error(r)
    assert (got, code) == (status, "INVALID_REQUEST"), r.text
    assert words in message
    assert "12345678" not in r.text  # a password is never echoed back


def test_a_huge_body_without_content_length_is_cut_off(admin: httpx.Client) -> None:
    chunks = [b'{"username": "', *([b"a" * 65536] * 64), b'"}']
    r = admin.post("/users", content=iter(chunks), headers={"Content-Type": JSON})
    assert "content-length" not in r.request.headers  # sent chunked
    status, code, message = error(r)
    assert (status, code) == (400, "INVALID_REQUEST")
    assert "larger" in message


def test_bad_query_parameters_are_422(admin: httpx.Client) -> None:
    r = admin.get("/audit", params={"limit": "lots"})
    status, code, message = error(r)
    assert (status, code) == (422, "INVALID_REQUEST")
    assert "limit" in message
    assert error(admin.get("/me/permissions"))[:2] == (422, "INVALID_REQUEST")


def test_wrong_method_is_405(admin: httpx.Client) -> None:
    assert error(admin.put("/users"))[:2] == (405, "UNSUPPORTED")


# --- service accounts --------------------------------------------------------------------


def test_service_account_pulls_with_a_token_and_loses_it_when_deleted(
    server: RunningServer, admin: httpx.Client
) -> None:
    name = unique("ci")
    r = admin.post(
        "/service-accounts", json={"name": name, "groups": ["ci"], "description": "pipeline"}
    )
    assert r.status_code == 201
    account = r.json()
    assert (account["kind"], account["groups"], account["disabled"]) == ("service", ["ci"], False)
    assert account["description"] == "pipeline"
    assert name in [a["name"] for a in admin.get("/service-accounts").json()]
    assert name not in [u["name"] for u in admin.get("/users").json()]
    assert error(admin.get(f"/users/{name}"))[:2] == (404, "NOT_FOUND")

    token = make_token(admin, principal=name, expires_in_days=7)
    assert token["principal"] == name
    assert httpx.get(f"{server.url}/v2/", auth=(name, token["token"])).status_code == 200
    bearer = {"Authorization": f"Bearer {token['token']}"}
    me = httpx.get(f"{server.url}{API}/me", headers=bearer).json()
    assert me == {"name": name, "kind": "service", "is_admin": False, "groups": ["ci"]}

    r = admin.patch(f"/service-accounts/{name}", json={"password": PASSWORD})
    assert error(r)[:2] == (422, "INVALID_REQUEST")  # no password to set
    r = admin.patch(f"/service-accounts/{name}", json={"groups": [], "description": "idle"})
    assert (r.json()["groups"], r.json()["description"]) == ([], "idle")

    assert admin.delete(f"/service-accounts/{name}").status_code == 204
    assert httpx.get(f"{server.url}/v2/", auth=(name, token["token"])).status_code == 401
    assert httpx.get(f"{server.url}{API}/me", headers=bearer).status_code == 401


def test_service_accounts_and_users_are_not_mixed_up(admin: httpx.Client) -> None:
    user = make_user(admin)
    assert error(admin.get(f"/service-accounts/{user}"))[:2] == (404, "NOT_FOUND")
    assert error(admin.delete(f"/service-accounts/{user}"))[:2] == (404, "NOT_FOUND")
    assert admin.get(f"/users/{user}").status_code == 200


# --- groups --------------------------------------------------------------------------------


def test_group_lifecycle_and_members(admin: httpx.Client) -> None:
    alice, bob = make_user(admin), make_user(admin)
    name = unique("team")
    r = admin.post("/groups", json={"name": name, "description": "a team", "members": [alice]})
    assert r.status_code == 201
    assert r.json() == {"name": name, "description": "a team", "members": [alice]}
    assert error(admin.post("/groups", json={"name": name}))[:2] == (409, "CONFLICT")
    assert error(admin.post("/groups", json={"name": "Team A"}))[:2] == (400, "INVALID_REQUEST")

    assert admin.put(f"/groups/{name}/members/{bob}").status_code == 204
    assert admin.put(f"/groups/{name}/members/{bob}").status_code == 204  # idempotent
    assert admin.get(f"/groups/{name}").json()["members"] == sorted([alice, bob])
    assert name in admin.get(f"/users/{bob}").json()["groups"]

    assert admin.delete(f"/groups/{name}/members/{alice}").status_code == 204
    assert error(admin.delete(f"/groups/{name}/members/{alice}"))[:2] == (404, "NOT_FOUND")
    assert admin.get(f"/groups/{name}").json()["members"] == [bob]

    assert name in [g["name"] for g in admin.get("/groups").json()]
    assert admin.delete(f"/groups/{name}").status_code == 204
    assert error(admin.get(f"/groups/{name}"))[:2] == (404, "NOT_FOUND")
    assert admin.get(f"/users/{bob}").json()["groups"] == []


def test_default_groups_exist(admin: httpx.Client) -> None:
    names = {g["name"] for g in admin.get("/groups").json()}
    assert {"developers", "testers", "operations", "ci"} <= names


# --- access tokens -------------------------------------------------------------------------


def test_token_lifecycle(server: RunningServer, admin: httpx.Client) -> None:
    user = make_user(admin)
    with client_as(server, user, PASSWORD) as me:
        created = make_token(me, name="laptop")
        assert created["token"].startswith(f"tdg_{created['id']}_")
        assert created["principal"] == user
        expires = datetime.fromisoformat(created["expires_at"])
        assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)

        listed = me.get("/tokens").json()
        assert [t["name"] for t in listed] == ["laptop"]
        assert listed[0]["revoked_at"] is None
        assert created["token"] not in me.get("/tokens").text  # the secret is shown once

        assert error(me.post("/tokens", json={"name": "laptop"}))[:2] == (409, "CONFLICT")
        for days in (0, -1, 3651):
            r = me.post("/tokens", json={"name": unique("t"), "expires_in_days": days})
            assert error(r)[:2] == (400, "INVALID_REQUEST"), days
        r = me.post("/tokens", json={"name": "x", "expires_in_days": "30"})
        assert error(r)[:2] == (422, "INVALID_REQUEST")

        # a non-admin manages only its own tokens
        assert error(me.post("/tokens", json={"name": "x", "principal": "admin"}))[0] == 403
        assert error(me.get("/tokens", params={"all": "true"}))[0] == 403
        admins = make_token(admin)
        assert error(me.delete(f"/tokens/{admins['id']}"))[:2] == (404, "NOT_FOUND")

    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert httpx.get(f"{server.url}{API}/me", headers=bearer).json()["name"] == user
    assert httpx.get(f"{server.url}/v2/", auth=(user, created["token"])).status_code == 200

    every = admin.get("/tokens", params={"all": "true"}).json()
    assert {created["id"], admins["id"]} <= {t["id"] for t in every}
    theirs = admin.get("/tokens", params={"principal": user}).json()
    assert [t["id"] for t in theirs] == [created["id"]]

    with httpx.Client(base_url=server.url + API, headers=bearer, timeout=30) as me:
        assert me.delete(f"/tokens/{created['id']}").status_code == 204
    assert error(httpx.get(f"{server.url}{API}/me", headers=bearer))[:2] == (401, "UNAUTHORIZED")
    assert httpx.get(f"{server.url}/v2/", auth=(user, created["token"])).status_code == 401
    revoked = admin.get("/tokens", params={"principal": user}).json()[0]
    assert revoked["revoked_at"] is not None
    assert error(admin.delete(f"/tokens/{created['id']}"))[:2] == (409, "CONFLICT")


# --- permission targets --------------------------------------------------------------------


def target(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "repositories": ["dev"], **fields}


def test_permission_target_lifecycle_and_effective_actions(
    server: RunningServer, admin: httpx.Client
) -> None:
    user = make_user(admin)
    name = unique("shop")
    body = target(name, include=["shop/**"], exclude=["shop/secret"], users={user: ["read"]})
    r = admin.post("/permissions", json=body)
    assert r.status_code == 201
    assert r.json() == {**body, "groups": {}, "anonymous": []}
    assert error(admin.post("/permissions", json=body))[:2] == (409, "CONFLICT")
    assert name in [t["name"] for t in admin.get("/permissions").json()]

    def actions(repo: str, image: str | None = None) -> list[str]:
        params = {"repo": repo} | ({"image": image} if image else {})
        with client_as(server, user, PASSWORD) as me:
            r = me.get("/me/permissions", params=params)
        assert r.status_code == 200, r.text
        assert r.json()["repo"] == repo
        return list(r.json()["actions"])

    assert actions("dev", "shop/cart") == ["read"]
    assert actions("dev", "shop/secret") == []
    assert actions("dev", "other/app") == []
    assert actions("prod", "shop/cart") == []

    replaced = target(name, include=["**"], users={user: ["read", "deploy", "read"]})
    r = admin.put(f"/permissions/{name}", json=replaced)
    assert r.status_code == 200
    assert r.json()["users"] == {user: ["read", "deploy"]}
    assert actions("dev", "other/app") == ["read", "deploy"]
    assert error(admin.put(f"/permissions/{name}", json=target("other")))[:2] == (
        400,
        "INVALID_REQUEST",
    )

    assert admin.delete(f"/permissions/{name}").status_code == 204
    assert error(admin.get(f"/permissions/{name}"))[:2] == (404, "NOT_FOUND")
    assert actions("dev", "other/app") == []


def test_admins_hold_every_action(admin: httpx.Client) -> None:
    r = admin.get("/me/permissions", params={"repo": "prod", "image": "shop/cart"})
    assert r.json()["actions"] == [
        "read",
        "annotate",
        "deploy",
        "overwrite",
        "delete",
        "promote",
        "manage",
    ]


@pytest.mark.parametrize("actions", [["deploy"], ["read", "delete"], ["manage"]])
def test_anonymous_write_grants_are_refused(admin: httpx.Client, actions: list[str]) -> None:
    r = admin.post("/permissions", json=target(unique("anon"), anonymous=actions))
    status, code, message = error(r)
    assert (status, code) == (400, "INVALID_REQUEST")
    assert "anonymous" in message


def test_anonymous_read_is_accepted(admin: httpx.Client) -> None:
    name = unique("public")
    body = target(name, repositories=["no-such-repo"], anonymous=["read"])
    assert admin.post("/permissions", json=body).json()["anonymous"] == ["read"]
    assert admin.delete(f"/permissions/{name}").status_code == 204


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"repositories": []}, 400),
        ({"repositories": ["Dev Repo"]}, 400),
        ({"include": []}, 400),
        ({"users": {"nobody-here": ["read"]}}, 400),
        ({"groups": {"no-such-group": ["read"]}}, 400),
        ({"users": {"admin": ["fly"]}}, 422),
        ({"anonymous": "read"}, 422),
        ({"owner": "me"}, 422),
    ],
)
def test_malformed_targets_are_refused(
    admin: httpx.Client, fields: dict[str, Any], status: int
) -> None:
    r = admin.post("/permissions", json=target(unique("bad"), **fields))
    assert error(r)[:2] == (status, "INVALID_REQUEST")


# --- audit ---------------------------------------------------------------------------------


def test_changes_are_audited_newest_first(admin: httpx.Client) -> None:
    first, second = make_user(admin), make_user(admin)
    events = admin.get("/audit", params={"action": "user.created", "actor": "admin"}).json()
    targets = [e["target"] for e in events]
    assert targets.index(second) < targets.index(first)
    event = events[targets.index(second)]
    assert event["outcome"] == "ok"
    assert event["address"] == "127.0.0.1"
    assert datetime.fromisoformat(event["at"]).tzinfo is not None
    assert PASSWORD not in admin.get("/audit").text
    assert len(admin.get("/audit", params={"limit": 1}).json()) == 1
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert admin.get("/audit", params={"since": future}).json() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/users", {"username": "surrogate", "password": "\ud800\ud800abcdefgh"}),
        ("/groups", {"name": "surrogate-g", "description": "\ud800"}),
        ("/service-accounts", {"name": "surrogate-sa", "description": "\ud800"}),
        (
            "/permissions",
            {"name": "surrogate-p", "repositories": ["dev"], "users": {"\ud800": ["read"]}},
        ),
    ],
)
def test_lone_surrogates_in_a_body_are_refused_not_a_500(
    admin: httpx.Client, path: str, body: dict[str, Any]
) -> None:
    r = admin.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})

    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] == "INVALID_REQUEST"
    assert "surrogate" in r.json()["message"]


def test_a_secret_typed_as_the_username_is_not_kept_in_the_audit_log(
    server: RunningServer, admin: httpx.Client
) -> None:
    secret = "tdg_" + "s" * 20 + " my password"
    assert httpx.get(f"{server.url}/v2/", auth=(secret, "x")).status_code == 401

    deadline = time.monotonic() + 10
    while True:
        events = admin.get("/audit", params={"action": "login.failed"}).json()
        if any(e["actor"] == "(not a valid username)" for e in events):
            break
        assert time.monotonic() < deadline, events
        time.sleep(0.1)
    assert secret not in json.dumps(events)


def test_a_user_changes_their_own_password(server: RunningServer, admin: httpx.Client) -> None:
    """``PUT /api/v1/me/password``: the current password must be given (not a token); a short
    new one is refused; afterwards the old password fails and the new one works; a service
    account has no password to change."""
    name = make_user(admin, ["developers"])
    new = "another-" + uuid.uuid4().hex
    with client_as(server, name, PASSWORD) as me:
        token = make_token(me)["token"]
        wrong = me.put("/me/password", json={"current_password": "nope-" * 3, "new_password": new})
        assert error(wrong)[:2] == (403, "DENIED"), wrong.text
        as_token = me.put("/me/password", json={"current_password": token, "new_password": new})
        assert error(as_token)[:2] == (403, "DENIED"), as_token.text
        short = me.put("/me/password", json={"current_password": PASSWORD, "new_password": "x"})
        assert error(short)[:2] == (400, "INVALID_REQUEST"), short.text
        ok = me.put("/me/password", json={"current_password": PASSWORD, "new_password": new})
        assert ok.status_code == 204, ok.text
    with client_as(server, name, PASSWORD) as old:
        assert old.get("/me").status_code == 401
    with client_as(server, name, new) as fresh:
        assert fresh.get("/me").json()["name"] == name
    entries = admin.get("/audit", params={"actor": name, "action": "user.password_changed"})
    assert entries.status_code == 200 and len(entries.json()) == 1, entries.text

    robot = unique("sa")
    assert admin.post("/service-accounts", json={"name": robot}).status_code == 201
    robot_token = make_token(admin, principal=robot)["token"]
    with client_as(server, robot, robot_token) as sa:
        refused = sa.put("/me/password", json={"current_password": "x" * 8, "new_password": new})
        assert error(refused)[:2] == (400, "INVALID_REQUEST"), refused.text

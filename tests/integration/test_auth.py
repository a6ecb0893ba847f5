"""Authentication on the wire: challenges, Basic, the token endpoint, scopes."""

from __future__ import annotations

import base64
import socket
import time

import httpx
import pytest

from tests.integration.conftest import error_code, push_blob
from tests.support.server import RunningServer

PROTECTED = [
    ("GET", "/v2/"),
    ("GET", "/v2/_catalog"),
    ("GET", "/v2/dev/app/tags/list"),
    ("GET", "/v2/dev/app/manifests/latest"),
    ("HEAD", "/v2/dev/app/manifests/latest"),
    ("PUT", "/v2/dev/app/manifests/latest"),
    ("DELETE", "/v2/dev/app/manifests/latest"),
    ("GET", f"/v2/dev/app/blobs/sha256:{'0' * 64}"),
    ("DELETE", f"/v2/dev/app/blobs/sha256:{'0' * 64}"),
    ("POST", "/v2/dev/app/blobs/uploads/"),
    ("GET", f"/v2/dev/app/referrers/sha256:{'0' * 64}"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_endpoint_challenges_anonymous_callers(
    anon: httpx.Client, method: str, path: str
) -> None:
    r = anon.request(method, path)
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="http://')
    assert 'service="tidegate"' in challenge
    if path.startswith("/v2/dev/app/"):
        # broad on purpose: the token service grants only what the caller may do of it
        assert 'scope="repository:dev/app:pull,push,delete"' in challenge
    if method != "HEAD":
        assert error_code(r) == "UNAUTHORIZED"


def test_wrong_password_is_refused_with_a_challenge(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}/v2/", auth=("admin", "wrong-password"))
    assert r.status_code == 401
    assert error_code(r) == "UNAUTHORIZED"
    assert "invalid username or password" in r.json()["errors"][0]["message"]


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}/v2/", auth=("nobody", "whatever"))
    assert r.status_code == 401
    assert "invalid username or password" in r.json()["errors"][0]["message"]


def test_malformed_basic_header_is_refused(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}/v2/", headers={"Authorization": "Basic !!!notbase64"})
    assert r.status_code == 401


def test_basic_credentials_work_directly_on_v2(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"


def test_token_endpoint_get_with_basic_grants_requested_scope(
    server: RunningServer, name: str
) -> None:
    r = httpx.get(
        f"{server.url}/auth/token",
        params={"service": "tidegate", "scope": f"repository:{name}:pull,push"},
        auth=server.auth,
    )
    assert r.status_code == 200
    token = r.json()["token"]
    assert r.json()["access_token"] == token
    assert r.json()["expires_in"] > 0
    pushed = httpx.post(
        f"{server.url}/v2/{name}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    assert pushed.status_code == 202


def test_token_endpoint_refuses_wrong_credentials(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}/auth/token", params={"service": "tidegate"}, auth=("admin", "x"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_an_anonymous_token_grants_nothing_when_anonymous_access_is_off(
    server: RunningServer,
) -> None:
    """As on Docker Hub, a token request without credentials gets an anonymous token; it
    carries only what permission targets let anonymous do: by default, nothing."""
    anonymous = httpx.get(
        f"{server.url}/auth/token",
        params={"service": "tidegate", "scope": "repository:dev/app:pull,push"},
    )
    assert anonymous.status_code == 200
    token = anonymous.json()["token"]
    assert "refresh_token" not in anonymous.json()

    pulled = httpx.get(
        f"{server.url}/v2/dev/app/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert pulled.status_code == 401
    assert 'error="insufficient_scope"' in pulled.headers["WWW-Authenticate"]


def test_several_scope_parameters_in_one_request(server: RunningServer) -> None:
    r = httpx.get(
        f"{server.url}/auth/token",
        params=[
            ("service", "tidegate"),
            ("scope", "repository:dev/a:pull"),
            ("scope", "repository:dev/b:pull,push"),
            ("scope", "registry:catalog:*"),
        ],
        auth=server.auth,
    )
    token = r.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/v2/_catalog", headers=headers).status_code == 200
    assert httpx.post(f"{server.url}/v2/dev/b/blobs/uploads/", headers=headers).status_code == 202
    # pull only on dev/a: a push is challenged, naming the scope to ask for
    refused = httpx.post(f"{server.url}/v2/dev/a/blobs/uploads/", headers=headers)
    assert refused.status_code == 401
    assert error_code(refused) == "UNAUTHORIZED"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="repository:dev/a:pull,push,delete"' in refused.headers["www-authenticate"]


def test_oauth2_post_password_and_refresh_grants(server: RunningServer, name: str) -> None:
    form = {
        "grant_type": "password",
        "username": server.username,
        "password": server.password,
        "service": "tidegate",
        "scope": f"repository:{name}:pull",
        "client_id": "tests",
        "access_type": "offline",
    }
    r = httpx.post(f"{server.url}/auth/token", data=form)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    refresh = body["refresh_token"]
    again = httpx.post(
        f"{server.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "tidegate",
            "scope": f"repository:{name}:pull",
        },
    )
    assert again.status_code == 200, again.text
    assert again.json()["access_token"]
    # An access token is not a refresh token.
    wrong = httpx.post(
        f"{server.url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": body["access_token"]},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_grant"


def test_oauth2_post_refuses_bad_password_and_unknown_grant(server: RunningServer) -> None:
    bad = httpx.post(
        f"{server.url}/auth/token",
        data={"grant_type": "password", "username": "admin", "password": "nope"},
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_grant"
    odd = httpx.post(f"{server.url}/auth/token", data={"grant_type": "client_credentials"})
    assert odd.status_code == 400
    assert odd.json()["error"] == "unsupported_grant_type"


def test_tampered_and_garbage_tokens_are_refused(server: RunningServer) -> None:
    r = httpx.get(
        f"{server.url}/auth/token",
        params={"service": "tidegate", "scope": "repository:dev/a:pull"},
        auth=server.auth,
    )
    token = r.json()["token"]
    header, payload, signature = token.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(payload + "==").replace(b"dev/a", b"dev/b")
        )
        .rstrip(b"=")
        .decode()
    )
    for bad in (f"{header}.{forged_payload}.{signature}", "garbage"):
        res = httpx.get(
            f"{server.url}/v2/dev/a/tags/list", headers={"Authorization": f"Bearer {bad}"}
        )
        assert res.status_code == 401
        assert 'error="invalid_token"' in res.headers["www-authenticate"]


def _token(server: RunningServer, *scopes: str) -> dict[str, str]:
    r = httpx.get(
        f"{server.url}/auth/token",
        params=(("service", "tidegate"), *(("scope", s) for s in scopes)),
        auth=server.auth,
    )
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_mount_with_a_token_that_never_asked_for_the_source_is_challenged(
    server: RunningServer, name: str
) -> None:
    data = b"mount me"
    with server.client() as c:
        digest = push_blob(c, name, data)
    target = name + "-target"
    headers = _token(server, f"repository:{target}:pull,push")
    url = f"{server.url}/v2/{target}/blobs/uploads/"
    r = httpx.post(url, params={"mount": digest, "from": name}, headers=headers)
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert f'scope="repository:{target}:pull,push,delete repository:{name}:pull"' in challenge
    # The client asks for exactly what the challenge named, and the mount succeeds.
    scope = challenge.split('scope="')[1].split('"')[0]
    r = httpx.post(url, params={"mount": digest, "from": name}, headers=_token(server, scope))
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/{target}/blobs/{digest}"


def test_mount_without_from_under_a_token_uses_the_callers_own_read_access(
    server: RunningServer, name: str
) -> None:
    data = b"discover me"
    with server.client() as c:
        digest = push_blob(c, name, data)
    target = name + "-discovering"
    headers = _token(server, f"repository:{target}:pull,push")
    r = httpx.post(
        f"{server.url}/v2/{target}/blobs/uploads/", params={"mount": digest}, headers=headers
    )
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/{target}/blobs/{digest}"


def _read_response(sock: socket.socket, buffered: bytes) -> tuple[bytes, bytes]:
    """(status line, what follows the response) from a keep-alive socket."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buffered += chunk
    head, rest = buffered.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    length = next(
        (
            int(v)
            for k, _, v in (x.partition(b":") for x in lines[1:])
            if k.lower() == b"content-length"
        ),
        0,
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        rest += chunk
    return lines[0], rest[length:]


def test_a_refused_manifest_push_reads_the_body_and_keeps_the_connection(
    server: RunningServer,
) -> None:
    """A client that streams a small body (ctr pipes manifests) must get the 401 rather than
    a connection closed under it; the connection stays usable for the next request."""
    body = b'{"schemaVersion":2}' + b" " * 2000
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(10)
        sock.sendall(
            b"PUT /v2/dev/x/manifests/1 HTTP/1.1\r\nHost: h\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        sock.sendall(body[:1000])
        time.sleep(0.2)  # the rest arrives after the server has decided
        sock.sendall(body[1000:])
        status, rest = _read_response(sock, b"")
        assert status.startswith(b"HTTP/1.1 401")

        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        status, _ = _read_response(sock, rest)
        assert status.startswith(b"HTTP/1.1 200")

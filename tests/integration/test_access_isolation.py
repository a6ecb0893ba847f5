"""Teams cannot reach each other's content: per-repository and per-image permissions on the
wire, the blob access rule (a repository serves only what it references), mounts that fall
back to uploads, filtered listings, overwrite, anonymous read, and the audit of refusals.

Two team repositories (``team-a``, ``team-b``) and a ``public`` one with anonymous read,
configured on first start; users are created through the management API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import OCI_MANIFEST, error_code, image_manifest, push_blob
from tests.support.server import RunningServer, tidegate_server

CONFIG = """
repositories:
  - {key: team-a, kind: local}
  - {key: team-b, kind: local}
  - {key: public, kind: local}
groups: [team-a, team-b, publishers]
permission_targets:
  - name: team-a
    repositories: [team-a]
    groups: {team-a: [read, annotate, deploy, overwrite, delete]}
  - name: team-b
    repositories: [team-b]
    groups: {team-b: [read, annotate, deploy, delete]}
  - name: public
    repositories: [public]
    groups: {publishers: [read, deploy]}
    anonymous: [read]
"""
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = tmp_path_factory.mktemp("isolation")
    config = base / "tidegate.yaml"
    config.write_text(CONFIG)
    with tidegate_server(base / "data", config=config) as running:
        with running.client() as admin:
            for user, group in (("alice", "team-a"), ("bob", "team-b"), ("pat", "publishers")):
                r = admin.post(
                    "/api/v1/users",
                    json={"username": user, "password": PASSWORD, "groups": [group]},
                )
                assert r.status_code == 201, r.text
        yield running


def as_user(server: RunningServer, user: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=(user, PASSWORD), timeout=30)


@pytest.fixture
def alice(server: RunningServer) -> Iterator[httpx.Client]:
    with as_user(server, "alice") as c:
        yield c


@pytest.fixture
def bob(server: RunningServer) -> Iterator[httpx.Client]:
    with as_user(server, "bob") as c:
        yield c


def bearer(server: RunningServer, user: str, *scopes: str) -> dict[str, str]:
    r = httpx.get(
        f"{server.url}/auth/token",
        params=[("service", "tidegate"), *(("scope", s) for s in scopes)],
        auth=(user, PASSWORD),
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def alice_image(alice: httpx.Client) -> tuple[str, str, bytes]:
    """(name, layer digest, manifest) of an image alice pushed to team-a."""
    name = f"team-a/app-{uuid.uuid4().hex[:8]}"
    manifest = image_manifest(alice, name, layer=uuid.uuid4().bytes)
    r = alice.put(
        f"/v2/{name}/manifests/1.0", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    layer = json.loads(manifest)["layers"][0]["digest"]
    return name, layer, manifest


def test_guessing_another_teams_digest_finds_nothing(
    server: RunningServer, bob: httpx.Client, alice_image: tuple[str, str, bytes]
) -> None:
    name, layer, _ = alice_image

    # through bob's own repository: the bytes exist, but team-b does not reference them
    r = bob.get(f"/v2/team-b/app/blobs/{layer}")
    assert r.status_code == 404
    assert error_code(r) == "BLOB_UNKNOWN"
    # through alice's repository: bob may not read it at all
    r = bob.get(f"/v2/{name}/blobs/{layer}")
    assert r.status_code == 403
    assert error_code(r) == "DENIED"
    r = httpx.get(
        f"{server.url}/v2/{name}/blobs/{layer}",
        headers=bearer(server, "bob", f"repository:{name}:pull"),
    )
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]


def test_a_mount_from_an_unreadable_repository_becomes_an_upload(
    server: RunningServer, bob: httpx.Client, alice_image: tuple[str, str, bytes]
) -> None:
    name, layer, _ = alice_image
    target = f"team-b/app-{uuid.uuid4().hex[:8]}"

    for params in ({"mount": layer, "from": name}, {"mount": layer}):
        r = bob.post(f"/v2/{target}/blobs/uploads/", params=params)
        assert r.status_code == 202, r.text  # an upload session, not a mount
        assert "/blobs/uploads/" in r.headers["Location"]
        assert bob.head(f"/v2/{target}/blobs/{layer}").status_code == 404

    # with a token that asked for the source and was refused, the same
    headers = bearer(server, "bob", f"repository:{target}:pull,push", f"repository:{name}:pull")
    r = httpx.post(
        f"{server.url}/v2/{target}/blobs/uploads/",
        params={"mount": layer, "from": name},
        headers=headers,
    )
    assert r.status_code == 202
    assert bob.head(f"/v2/{target}/blobs/{layer}").status_code == 404


def test_a_mount_the_caller_may_read_links_the_blob(
    alice: httpx.Client, alice_image: tuple[str, str, bytes]
) -> None:
    name, layer, _ = alice_image
    target = f"team-a/copy-{uuid.uuid4().hex[:8]}"

    r = alice.post(f"/v2/{target}/blobs/uploads/", params={"mount": layer, "from": name})

    assert r.status_code == 201
    assert alice.head(f"/v2/{target}/blobs/{layer}").status_code == 200


def test_listings_show_only_what_the_caller_may_read(
    server: RunningServer,
    alice: httpx.Client,
    bob: httpx.Client,
    alice_image: tuple[str, str, bytes],
) -> None:
    name, _, _ = alice_image
    bobs = f"team-b/tool-{uuid.uuid4().hex[:8]}"
    r = bob.put(
        f"/v2/{bobs}/manifests/2.0",
        content=image_manifest(bob, bobs),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201

    seen_by_alice = alice.get("/v2/_catalog").json()["repositories"]
    seen_by_bob = bob.get("/v2/_catalog").json()["repositories"]
    assert name in seen_by_alice and bobs not in seen_by_alice
    assert bobs in seen_by_bob and name not in seen_by_bob
    assert all(n.startswith("team-a/") or n.startswith("public/") for n in seen_by_alice)

    catalog = httpx.get(
        f"{server.url}/v2/_catalog", headers=bearer(server, "bob", "registry:catalog:*")
    )
    assert catalog.status_code == 200
    assert catalog.json()["repositories"] == seen_by_bob

    assert bob.get(f"/v2/{name}/tags/list").status_code == 403
    assert bob.get(f"/v2/{name}/manifests/1.0").status_code == 403


def test_moving_a_tag_needs_overwrite(bob: httpx.Client) -> None:
    """team-b may deploy and delete but not overwrite."""
    name = f"team-b/app-{uuid.uuid4().hex[:8]}"
    first = image_manifest(bob, name, layer=b"one")
    second = image_manifest(bob, name, layer=b"two")
    headers = {"Content-Type": OCI_MANIFEST}
    assert bob.put(f"/v2/{name}/manifests/1.0", content=first, headers=headers).status_code == 201

    moved = bob.put(f"/v2/{name}/manifests/1.0", content=second, headers=headers)

    assert moved.status_code == 403
    assert error_code(moved) == "DENIED"
    assert "overwrite" in moved.json()["errors"][0]["message"]
    assert bob.get(f"/v2/{name}/manifests/1.0").content == first  # unchanged
    # pushing the same content again moves nothing and is fine; a new tag is fine
    assert bob.put(f"/v2/{name}/manifests/1.0", content=first, headers=headers).status_code == 201
    assert bob.put(f"/v2/{name}/manifests/1.1", content=second, headers=headers).status_code == 201


def test_anonymous_reads_where_a_target_allows_it_and_never_writes(server: RunningServer) -> None:
    name = f"public/lib-{uuid.uuid4().hex[:8]}"
    with as_user(server, "pat") as pat:
        manifest = image_manifest(pat, name)
        r = pat.put(
            f"/v2/{name}/manifests/1.0", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert r.status_code == 201

    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get(f"/v2/{name}/manifests/1.0").content == manifest
        assert name in anonymous.get("/v2/_catalog").json()["repositories"]
        pushed = anonymous.post(f"/v2/{name}/blobs/uploads/")
        assert pushed.status_code == 401
        assert pushed.headers["WWW-Authenticate"].startswith("Bearer ")
        # other repositories stay closed
        assert anonymous.get("/v2/team-a/app/tags/list").status_code == 401

    token = httpx.get(
        f"{server.url}/auth/token",
        params={"service": "tidegate", "scope": f"repository:{name}:pull,push"},
    ).json()["token"]
    r = httpx.get(
        f"{server.url}/v2/{name}/manifests/1.0", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    r = httpx.post(
        f"{server.url}/v2/{name}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401


def test_refused_access_is_audited(
    server: RunningServer, bob: httpx.Client, alice_image: tuple[str, str, bytes]
) -> None:
    name, _, _ = alice_image
    assert bob.get(f"/v2/{name}/tags/list").status_code == 403

    deadline = time.monotonic() + 10
    with server.client() as admin:
        while True:
            r = admin.get("/api/v1/audit", params={"actor": "bob", "action": "access.refused"})
            assert r.status_code == 200, r.text
            events = [e for e in r.json() if e["target"] == name]
            if events or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert events, "the refusal was not recorded"
    assert events[0]["outcome"] == "refused"
    assert events[0]["address"] == "127.0.0.1"
    assert "bob may not pull" in events[0]["reason"]


def test_push_blob_helper_is_refused_without_deploy(bob: httpx.Client) -> None:
    """bob reads team-b but team-a is closed to him: a push there is refused and leaves no
    upload session behind."""
    r = bob.post("/v2/team-a/intruder/blobs/uploads/")
    assert r.status_code == 403
    assert error_code(r) == "DENIED"
    with pytest.raises(AssertionError):
        push_blob(bob, "team-a/intruder", b"data")

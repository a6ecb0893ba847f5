"""Virtual repositories (PRODUCT.md §2.3, docs/remote-virtual.md "Virtual") through a real
``tidegate serve``, as the default groups see them: resolution order with ``default_deploy``
first (read-your-writes), members the caller may not read skipped without a trace, merged tags
lists, catalog and referrers, pushes and upload sessions through the virtual address, deletes
refused, nested virtuals, ``default_repository`` routing, the resolve API, and repository
management (API and CLI). Every test runs on SQLite and on a real PostgreSQL server.

The members are local here (dev, test, prod with pushes allowed so admin can seed them): a
remote member is reached through the same seam and is tested with the remote kind."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.postgres import database_for
from tests.support.pushes import push, push_blob, sha256, unique
from tests.support.server import RunningServer, tidegate_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
PASSWORD = "a long enough password"

CONFIG = """\
repositories:
  - {key: dev, kind: local, stage: dev}
  - {key: test, kind: local, stage: test}
  - {key: prod, kind: local, stage: prod, immutable_tags: true}
  - {key: docker, kind: virtual, members: [test, dev, prod], default_deploy: dev}
  - {key: release, kind: virtual, members: [prod]}
  - {key: outer, kind: virtual, members: [release, docker]}
"""


@dataclass
class Env:
    server: RunningServer

    def client(self, who: str) -> httpx.Client:
        if who == "admin":
            return self.server.client()
        return httpx.Client(base_url=self.server.url, auth=(who, PASSWORD), timeout=60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_for(request, tmp_path_factory, "virtual")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("virtual")
    config = base / "tidegate.yaml"
    config.write_text(CONFIG)
    db_env = {"TIDEGATE_DATABASE_URL": database_url}
    with tidegate_server(base / "data", config=config, env=db_env) as running:
        with running.client() as admin:
            for user, group in (
                ("dave", "developers"),
                ("tess", "testers"),
                ("olga", "operations"),
            ):
                body = {"username": user, "password": PASSWORD, "groups": [group]}
                assert admin.post("/api/v1/users", json=body).status_code == 201
        yield Env(running)


@pytest.fixture
def admin(env: Env) -> Iterator[httpx.Client]:
    with env.client("admin") as c:
        yield c


@pytest.fixture
def dave(env: Env) -> Iterator[httpx.Client]:
    with env.client("dave") as c:
        yield c


@pytest.fixture
def tess(env: Env) -> Iterator[httpx.Client]:
    with env.client("tess") as c:
        yield c


def image_body(c: httpx.Client, name: str, layer: bytes | None = None) -> dict[str, Any]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": uuid.uuid4().hex}).encode()
    layer = layer or uuid.uuid4().bytes * 64
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": push_blob(c, name, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": push_blob(c, name, layer),
                "size": len(layer),
            }
        ],
    }


def image(c: httpx.Client, name: str, ref: str) -> tuple[bytes, str]:
    return push(c, name, ref, image_body(c, name))


def digest_of(c: httpx.Client, name: str, ref: str) -> str:
    r = c.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    return str(r.headers["docker-content-digest"])


def code(r: httpx.Response) -> str:
    return str(r.json()["errors"][0]["code"])


def message(r: httpx.Response) -> str:
    return str(r.json()["errors"][0]["message"])


# ---------------------------------------------------------------------- resolution
def test_members_answer_in_order_with_default_deploy_first(admin: httpx.Client) -> None:
    img = unique()
    _, in_test = image(admin, f"test/{img}", "1.0")
    _, in_prod = image(admin, f"prod/{img}", "1.0")
    _, only_prod = image(admin, f"prod/{img}", "2.0")
    # listed order: test before prod
    assert digest_of(admin, f"docker/{img}", "1.0") == in_test != in_prod
    assert digest_of(admin, f"docker/{img}", "2.0") == only_prod
    # default_deploy (dev) comes before every listed member
    _, in_dev = image(admin, f"dev/{img}", "1.0")
    assert digest_of(admin, f"docker/{img}", "1.0") == in_dev
    # by digest: whichever member holds it
    assert digest_of(admin, f"docker/{img}", in_prod) == in_prod


def test_a_tag_pushed_through_the_virtual_resolves_to_what_was_pushed(
    admin: httpx.Client, dave: httpx.Client
) -> None:
    """Read-your-writes: test already holds the tag; dave's push through docker lands in dev
    and a pull through docker gets it at once."""
    img = unique()
    _, older = image(admin, f"test/{img}", "1.4.0")
    raw, pushed = image(dave, f"docker/{img}", "1.4.0")
    assert pushed != older
    r = dave.get(f"/v2/docker/{img}/manifests/1.4.0", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    assert r.content == raw
    assert digest_of(admin, f"dev/{img}", "1.4.0") == pushed
    assert digest_of(admin, f"test/{img}", "1.4.0") == older


def test_a_member_the_caller_may_not_read_is_skipped_without_a_trace(
    admin: httpx.Client, dave: httpx.Client, tess: httpx.Client
) -> None:
    """developers read docker but not prod: prod's content never reaches them through docker,
    and the answer is the same as for content that exists nowhere."""
    img = unique()
    raw, secret = image(admin, f"prod/{img}", "1.0")
    layer = json.loads(raw)["layers"][0]["digest"]
    r = dave.get(f"/v2/docker/{img}/manifests/1.0", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 404
    assert code(r) == "MANIFEST_UNKNOWN"
    assert "'docker'" in message(r) and "prod" not in message(r)
    nowhere = dave.get(f"/v2/docker/{img}/manifests/9.9", headers={"Accept": OCI_MANIFEST})
    assert nowhere.status_code == 404
    assert message(nowhere).replace("9.9", "1.0") == message(r)
    assert dave.get(f"/v2/docker/{img}/manifests/{secret}").status_code == 404
    blob = dave.get(f"/v2/docker/{img}/blobs/{layer}")
    assert blob.status_code == 404 and code(blob) == "BLOB_UNKNOWN"
    tags = dave.get(f"/v2/docker/{img}/tags/list")
    assert tags.status_code == 404 and code(tags) == "NAME_UNKNOWN"
    # testers read prod: the same pull works for them
    assert digest_of(tess, f"docker/{img}", "1.0") == secret
    assert tess.get(f"/v2/docker/{img}/blobs/{layer}").status_code == 200

    explained = dave.get(
        "/api/v1/repositories/docker/resolve", params={"image": img, "reference": "1.0"}
    )
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["served_by"] is None and body["digest"] is None
    outcomes = {m["member"]: m for m in body["members"]}
    assert [m["member"] for m in body["members"]] == ["dev", "test", "prod"]
    assert outcomes["prod"]["outcome"] == "skipped: no read permission"
    assert outcomes["prod"]["readable"] is False and outcomes["prod"]["digest"] is None
    assert outcomes["dev"]["outcome"] == outcomes["test"]["outcome"] == "not found"
    as_tester = tess.get(
        "/api/v1/repositories/docker/resolve", params={"image": img, "reference": "1.0"}
    ).json()
    assert as_tester["served_by"] == "prod" and as_tester["digest"] == secret
    assert as_tester["members"][2] == {
        "member": "prod",
        "kind": "local",
        "readable": True,
        "outcome": "served",
        "digest": secret,
    }


def test_resolve_api_needs_read_on_the_virtual_and_a_virtual(
    admin: httpx.Client, dave: httpx.Client
) -> None:
    r = dave.get("/api/v1/repositories/outer/resolve", params={"image": "a", "reference": "1"})
    assert r.status_code == 403, r.text  # nobody but admin reads outer
    r = admin.get("/api/v1/repositories/dev/resolve", params={"image": "a", "reference": "1"})
    assert r.status_code == 400 and "virtual" in r.json()["message"]
    r = admin.get("/api/v1/repositories/docker/resolve", params={"image": "a", "reference": "b@"})
    assert r.status_code == 400, r.text
    r = admin.get("/api/v1/repositories/nope/resolve", params={"image": "a", "reference": "1"})
    assert r.status_code == 404, r.text


def test_blobs_come_from_a_member_that_references_them(
    admin: httpx.Client, dave: httpx.Client
) -> None:
    img = unique()
    raw, _ = image(admin, f"test/{img}", "1.0")
    layer = json.loads(raw)["layers"][0]["digest"]
    r = dave.get(f"/v2/docker/{img}/blobs/{layer}")
    assert r.status_code == 200 and sha256(r.content) == layer
    ranged = dave.get(f"/v2/docker/{img}/blobs/{layer}", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and len(ranged.content) == 10
    # the isolation rule holds: an image that does not reference the blob does not serve it
    other = unique()
    image(admin, f"dev/{other}", "1.0")
    assert dave.get(f"/v2/docker/{other}/blobs/{layer}").status_code == 404


# ---------------------------------------------------------------------- listings
def test_tags_lists_merge_the_readable_members_with_pagination(
    admin: httpx.Client, dave: httpx.Client
) -> None:
    img = unique()
    for repo, tag in (("dev", "a"), ("dev", "c"), ("test", "b"), ("test", "c"), ("prod", "p")):
        image(admin, f"{repo}/{img}", tag)
    assert admin.get(f"/v2/docker/{img}/tags/list").json() == {
        "name": f"docker/{img}",
        "tags": ["a", "b", "c", "p"],
    }
    assert dave.get(f"/v2/docker/{img}/tags/list").json()["tags"] == ["a", "b", "c"]
    first = dave.get(f"/v2/docker/{img}/tags/list", params={"n": 2})
    assert first.json()["tags"] == ["a", "b"]
    assert first.headers["link"] == f'</v2/docker/{img}/tags/list?n=2&last=b>; rel="next"'
    rest = dave.get(f"/v2/docker/{img}/tags/list", params={"n": 2, "last": "b"})
    assert rest.json()["tags"] == ["c"]
    assert "link" not in rest.headers


def test_the_catalog_lists_virtual_names_for_readable_members(
    admin: httpx.Client, dave: httpx.Client, tess: httpx.Client
) -> None:
    dev_img, prod_img = unique("cat/dev"), unique("cat/prod")
    image(admin, f"dev/{dev_img}", "1")
    image(admin, f"prod/{prod_img}", "1")
    image(admin, f"test/{dev_img}", "1")  # the same name in two members: one entry

    def catalog(c: httpx.Client) -> list[str]:
        r = c.get("/v2/_catalog")
        assert r.status_code == 200, r.text
        return list(r.json()["repositories"])

    as_dave = catalog(dave)
    assert f"dev/{dev_img}" in as_dave and as_dave.count(f"docker/{dev_img}") == 1
    assert f"docker/{prod_img}" not in as_dave and f"release/{prod_img}" not in as_dave
    assert not any(n.startswith("outer/") for n in as_dave)  # dave may not read outer
    as_tess = catalog(tess)
    assert {f"docker/{prod_img}", f"release/{prod_img}", f"prod/{prod_img}"} <= set(as_tess)
    as_admin = catalog(admin)
    assert {f"outer/{prod_img}", f"outer/{dev_img}"} <= set(as_admin)  # nested
    assert as_admin == sorted(as_admin)
    page = admin.get("/v2/_catalog", params={"n": 1, "last": f"docker/{dev_img}"})
    assert page.json()["repositories"] == [n for n in as_admin if n > f"docker/{dev_img}"][:1]


def test_referrers_merge_across_members(admin: httpx.Client) -> None:
    img = unique()
    body = image_body(admin, f"dev/{img}")
    raw, subject = push(admin, f"dev/{img}", "1.0", body)
    # the same manifest bytes in test: push its blobs there too
    manifest = json.loads(raw)
    config_bytes = admin.get(f"/v2/dev/{img}/blobs/{manifest['config']['digest']}").content
    layer_bytes = admin.get(f"/v2/dev/{img}/blobs/{manifest['layers'][0]['digest']}").content
    push_blob(admin, f"test/{img}", config_bytes)
    push_blob(admin, f"test/{img}", layer_bytes)
    r = admin.put(
        f"/v2/test/{img}/manifests/1.0", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    empty = b"{}"

    def referrer(repo: str, artifact: str) -> str:
        push_blob(admin, f"{repo}/{img}", empty)
        ref = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact,
            "config": {"mediaType": OCI_EMPTY, "digest": sha256(empty), "size": 2},
            "layers": [{"mediaType": OCI_EMPTY, "digest": sha256(empty), "size": 2}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(raw)},
        }
        return push(admin, f"{repo}/{img}", sha256(json.dumps(ref).encode()), ref)[1]

    sbom = referrer("dev", "application/spdx+json")
    sig = referrer("test", "application/vnd.dev.cosign.artifact.sig.v1+json")
    r = admin.get(f"/v2/docker/{img}/referrers/{subject}")
    assert r.status_code == 200, r.text
    listed = [m["digest"] for m in r.json()["manifests"]]
    assert sorted(listed) == sorted([sbom, sig])
    filtered = admin.get(
        f"/v2/docker/{img}/referrers/{subject}", params={"artifactType": "application/spdx+json"}
    )
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sbom]
    # the same referrer in two members is listed once
    sbom_raw = admin.get(f"/v2/dev/{img}/manifests/{sbom}").content
    r = admin.put(
        f"/v2/test/{img}/manifests/{sbom}", content=sbom_raw, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    again = admin.get(f"/v2/docker/{img}/referrers/{subject}").json()["manifests"]
    assert sorted(m["digest"] for m in again) == sorted([sbom, sig])


# ---------------------------------------------------------------------- writes
def test_a_push_through_the_virtual_lands_in_default_deploy(
    dave: httpx.Client, admin: httpx.Client
) -> None:
    img = unique()
    body = image_body(dave, f"docker/{img}")
    raw = json.dumps(body).encode()
    r = dave.put(
        f"/v2/docker/{img}/manifests/1.0", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v2/docker/{img}/manifests/{sha256(raw)}"
    assert digest_of(admin, f"dev/{img}", "1.0") == sha256(raw)
    for repo in ("test", "prod"):
        assert admin.get(f"/v2/{repo}/{img}/tags/list").status_code == 404
    layer = body["layers"][0]["digest"]
    assert admin.head(f"/v2/dev/{img}/blobs/{layer}").status_code == 200


def test_a_tester_cannot_push_through_docker(tess: httpx.Client, admin: httpx.Client) -> None:
    img = unique()
    r = tess.post(f"/v2/docker/{img}/blobs/uploads/")
    assert r.status_code == 403 and code(r) == "DENIED"
    r = tess.put(
        f"/v2/docker/{img}/manifests/1.0",
        content=b"{}",
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 403
    assert admin.get(f"/v2/dev/{img}/tags/list").status_code == 404


def test_upload_sessions_work_through_the_virtual_address(
    dave: httpx.Client, admin: httpx.Client
) -> None:
    img = unique()
    data = uuid.uuid4().bytes * 1000
    started = dave.post(f"/v2/docker/{img}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location.startswith(f"/v2/docker/{img}/blobs/uploads/")
    first = dave.patch(
        location,
        content=data[:1000],
        headers={"Content-Range": "0-999", "Content-Type": "application/octet-stream"},
    )
    assert first.status_code == 202, first.text
    assert first.headers["location"] == location and first.headers["range"] == "0-999"
    status = dave.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-999"
    second = dave.patch(
        location, content=data[1000:], headers={"Content-Range": f"1000-{len(data) - 1}"}
    )
    assert second.status_code == 202, second.text
    done = dave.put(location, params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    assert done.headers["location"] == f"/v2/docker/{img}/blobs/{sha256(data)}"
    # the session was dev's: the blob is in dev; a cancelled one goes away through docker too
    assert admin.get(f"/v2/dev/{img}/blobs/{sha256(data)}").content == data
    other = dave.post(f"/v2/docker/{img}/blobs/uploads/").headers["location"]
    assert dave.delete(other).status_code == 204
    assert dave.get(other).status_code == 404


def test_deletes_through_a_virtual_are_refused_with_the_member_to_use(
    admin: httpx.Client,
) -> None:
    img = unique()
    raw, digest = image(admin, f"dev/{img}", "1.0")
    for path in (
        f"/v2/docker/{img}/manifests/1.0",
        f"/v2/docker/{img}/manifests/{digest}",
        f"/v2/docker/{img}/blobs/{json.loads(raw)['layers'][0]['digest']}",
    ):
        r = admin.delete(path)
        assert r.status_code == 405, r.text
        assert code(r) == "UNSUPPORTED"
        assert f"dev/{img}" in message(r) and "virtual" in message(r)
    assert digest_of(admin, f"dev/{img}", "1.0") == digest


def test_a_virtual_without_default_deploy_takes_no_pushes(admin: httpx.Client) -> None:
    r = admin.post(f"/v2/release/{unique()}/blobs/uploads/")
    assert r.status_code == 403, r.text
    assert "no default_deploy" in message(r) and "prod" in message(r)


def test_nested_virtuals_resolve_through_their_members(admin: httpx.Client) -> None:
    img = unique()
    _, in_dev = image(admin, f"dev/{img}", "1.0")
    _, in_prod = image(admin, f"prod/{img}", "2.0")
    assert digest_of(admin, f"outer/{img}", "1.0") == in_dev
    assert digest_of(admin, f"outer/{img}", "2.0") == in_prod
    assert admin.get(f"/v2/outer/{img}/tags/list").json()["tags"] == ["1.0", "2.0"]
    explained = admin.get(
        "/api/v1/repositories/outer/resolve", params={"image": img, "reference": "1.0"}
    ).json()
    assert [(m["member"], m["outcome"]) for m in explained["members"]] == [
        ("release", "not found"),
        ("docker", "served"),
    ]


# ---------------------------------------------------------------------- default_repository
def test_one_part_names_route_through_the_default_virtual(
    dave: httpx.Client, admin: httpx.Client
) -> None:
    """``HOST/nginx:1.27`` is ``docker/nginx:1.27``; ``HOST/library/alpine`` too."""
    nginx = unique("nginx")
    raw, digest = push(dave, nginx, "1.27", image_body(dave, nginx))
    assert digest_of(admin, f"dev/{nginx}", "1.27") == digest  # pushed through docker
    r = dave.get(f"/v2/{nginx}/manifests/1.27", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.content == raw
    assert digest_of(dave, f"docker/{nginx}", "1.27") == digest
    tags = dave.get(f"/v2/{nginx}/tags/list").json()
    assert tags == {"name": nginx, "tags": ["1.27"]}
    alpine = f"library/{unique('alpine')}"
    _, in_test = image(admin, f"test/{alpine}", "3.20")
    assert digest_of(dave, alpine, "3.20") == in_test
    missing = dave.get(f"/v2/{unique('nothing')}/manifests/1")
    assert missing.status_code == 404 and "'docker'" in message(missing)


# ---------------------------------------------------------------------- management
def test_repository_crud_validation_and_audit(admin: httpx.Client, env: Env) -> None:
    key = f"team-{uuid.uuid4().hex[:6]}"
    r = admin.post(
        "/api/v1/repositories",
        json={"key": key, "kind": "local", "stage": "dev", "immutable_tags": True},
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "key": key,
        "kind": "local",
        "stage": "dev",
        "options": {"immutable_tags": True},
    }
    assert admin.post("/api/v1/repositories", json={"key": key, "kind": "local"}).status_code == 409
    # it serves content at once
    image(admin, f"{key}/app", "1.0")
    r = admin.patch(f"/api/v1/repositories/{key}", json={"allow_push": False, "stage": "qa"})
    assert r.status_code == 200, r.text
    assert r.json()["options"] == {"immutable_tags": True, "allow_push": False}
    assert r.json()["stage"] == "qa"
    refused = admin.post(f"/v2/{key}/app/blobs/uploads/")
    assert refused.status_code == 403 and "only by promotion" in message(refused)

    virt = f"v-{uuid.uuid4().hex[:6]}"
    r = admin.post(
        "/api/v1/repositories",
        json={"key": virt, "kind": "virtual", "members": [key, "dev"], "default_deploy": "dev"},
    )
    assert r.status_code == 201, r.text
    assert digest_of(admin, f"{virt}/app", "1.0") == digest_of(admin, f"{key}/app", "1.0")
    r = admin.delete(f"/api/v1/repositories/{key}")
    assert r.status_code == 409 and virt in r.json()["message"]
    assert admin.delete(f"/api/v1/repositories/{virt}").status_code == 204
    r = admin.delete(f"/api/v1/repositories/{key}")
    assert r.status_code == 409 and "force" in r.json()["message"]
    assert admin.get(f"/v2/{key}/app/tags/list").status_code == 200  # nothing happened
    assert admin.delete(f"/api/v1/repositories/{key}", params={"force": "true"}).status_code == 204
    assert admin.get(f"/api/v1/repositories/{key}").status_code == 404
    r = admin.get(f"/v2/{key}/app/tags/list")  # now routed to docker, which lacks it
    assert r.status_code == 404

    events = admin.get("/api/v1/audit", params={"repo": key, "limit": 50})
    assert events.status_code == 200, events.text
    actions = [e["action"] for e in events.json() if e["target"] == key]
    assert {"repository.created", "repository.updated", "repository.deleted"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"key": "Bad_Key", "kind": "local"}, 400, "invalid repository key"),
        ({"key": "x" * 65, "kind": "local"}, 400, "64"),
        ({"key": "k1", "kind": "cloud"}, 422, "kind"),
        ({"key": "k2", "kind": "local", "members": ["dev"]}, 400, "members is not an option"),
        ({"key": "k3", "kind": "virtual", "upstream": "https://x"}, 400, "upstream"),
        ({"key": "k4", "kind": "virtual", "members": ["nope"]}, 400, "'nope'"),
        (
            {"key": "k5", "kind": "virtual", "members": ["docker"], "default_deploy": "docker"},
            400,
            "local member",
        ),
        (
            {"key": "k6", "kind": "virtual", "members": ["dev"], "default_deploy": "test"},
            400,
            "not one of",
        ),
        ({"key": "k7", "kind": "remote"}, 400, "upstream"),
        ({"key": "k8", "kind": "remote", "upstream": "ftp://h/"}, 400, "http"),
        ({"key": "k9", "kind": "local", "quota": -1}, 400, "quota"),
        ({"key": "k10", "kind": "local", "allow_push": "yes"}, 422, "allow_push"),
        ({"key": "k11", "kind": "local", "gate": {"from": ["nowhere"]}}, 400, "nowhere"),
        ({"key": "k12", "kind": "local", "colour": "red"}, 422, "colour"),
        ({"key": "k13", "kind": "virtual", "members": ["dev", "dev"]}, 400, "twice"),
    ],
)
def test_invalid_repositories_are_refused_by_name(
    admin: httpx.Client, body: dict[str, Any], status: int, words: str
) -> None:
    r = admin.post("/api/v1/repositories", json=body)
    assert r.status_code == status, r.text
    assert words in r.text
    assert admin.get(f"/api/v1/repositories/{body['key']}").status_code in (404, 400, 422)


def test_cycles_are_refused(admin: httpx.Client) -> None:
    r = admin.patch("/api/v1/repositories/docker", json={"members": ["test", "dev", "outer"]})
    assert r.status_code == 400, r.text
    assert "docker -> outer -> docker" in r.json()["message"]
    r = admin.patch("/api/v1/repositories/release", json={"members": ["prod", "release"]})
    assert r.status_code == 400 and "release -> release" in r.json()["message"]
    members = admin.get("/api/v1/repositories/docker").json()["options"]["members"]
    assert members == ["test", "dev", "prod"]


def test_remote_secrets_are_never_returned(admin: httpx.Client, env: Env) -> None:
    key = f"mirror-{uuid.uuid4().hex[:6]}"
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    body = {
        "key": key,
        "kind": "remote",
        "upstream": "https://registry.example.test",
        "upstream_username": "bot",
        "upstream_password": secret,
        "tag_ttl": 60,
    }
    r = admin.post("/api/v1/repositories", json=body)
    assert r.status_code == 201, r.text
    assert secret not in r.text and "upstream_password" not in r.json()["options"]
    assert r.json()["options"]["upstream_username"] == "bot"
    r = admin.patch(f"/api/v1/repositories/{key}", json={"upstream_password": secret + "2"})
    assert r.status_code == 200 and secret not in r.text
    for path in ("/api/v1/repositories", f"/api/v1/repositories/{key}", "/api/v1/audit"):
        assert secret not in admin.get(path).text
    assert secret not in env.server.log()
    assert admin.delete(f"/api/v1/repositories/{key}").status_code == 204


def test_changing_repositories_needs_admin_or_manage(env: Env, admin: httpx.Client) -> None:
    with env.client("olga") as olga, env.client("dave") as dave:
        r = olga.patch("/api/v1/repositories/prod", json={"immutable_tags": True})
        assert r.status_code == 200, r.text  # operations manage prod
        r = dave.patch("/api/v1/repositories/dev", json={"allow_push": False})
        assert r.status_code == 403, r.text
        assert admin.get("/api/v1/repositories/dev").json()["options"].get("allow_push", True)
        r = dave.post("/api/v1/repositories", json={"key": "mine", "kind": "local"})
        assert r.status_code == 403
        assert olga.delete("/api/v1/repositories/prod").status_code == 403
    r = admin.delete("/api/v1/repositories/docker")
    assert r.status_code == 409 and "default_repository" in r.json()["message"]
    r = admin.patch("/api/v1/repositories/dev", json={"kind": "virtual"})
    assert r.status_code == 422, r.text  # kind is not a field of a change


def test_cli_repo_commands(env: Env, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    tidegate = os.path.join(os.path.dirname(sys.executable), "tidegate")
    with env.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"name": f"cli-{uuid.uuid4().hex[:6]}"})
        assert made.status_code == 201, made.text
    cli_env = {
        **os.environ,
        "TIDEGATE_URL": env.server.url,
        "TIDEGATE_TOKEN": made.json()["token"],
        "XDG_CONFIG_HOME": str(tmp_path),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tidegate, "repo", *args], env=cli_env, capture_output=True, text=True, timeout=60
        )

    key = f"cli-{uuid.uuid4().hex[:6]}"
    r = run("create", key, "--kind", "local", "--stage", "dev", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["key"] == key
    r = run(
        "create",
        f"{key}-v",
        "--kind",
        "virtual",
        "--member",
        key,
        "--member",
        "dev",
        "--default-deploy",
        "dev",
    )
    assert r.returncode == 0, r.stderr
    assert run("update", key, "--option", "immutable_tags=true").returncode == 0
    shown = json.loads(run("show", key, "--json").stdout)
    assert shown["options"]["immutable_tags"] is True
    listed = json.loads(run("list", "--json").stdout)
    assert {key, f"{key}-v", "docker"} <= {r["key"] for r in listed}
    human = run("list")
    assert human.returncode == 0 and key in human.stdout
    resolved = run("resolve", f"{key}-v", "nothing", "1.0", "--json")
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout)["served_by"] is None
    assert run("delete", key).returncode == 5  # a member of key-v: conflict
    assert run("delete", f"{key}-v").returncode == 0
    assert run("delete", key).returncode == 0
    assert run("show", key).returncode == 4
    bad = run("create", "x", "--kind", "virtual", "--member", "nope")
    assert bad.returncode == 1 and "nope" in bad.stdout + bad.stderr


def test_a_mount_from_a_virtual_address_links_a_blob_a_readable_member_holds(
    admin: httpx.Client, dave: httpx.Client
) -> None:
    img, other = unique(), unique()
    raw, _ = image(admin, f"test/{img}", "1.0")  # developers read test
    layer = json.loads(raw)["layers"][0]["digest"]
    r = dave.post(
        f"/v2/docker/{other}/blobs/uploads/", params={"mount": layer, "from": f"docker/{img}"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v2/docker/{other}/blobs/{layer}"
    assert admin.head(f"/v2/dev/{other}/blobs/{layer}").status_code == 200
    # a blob only prod holds (developers do not read prod): a normal upload session instead
    secret, _ = image(admin, f"prod/{img}", "2.0")
    hidden = json.loads(secret)["layers"][0]["digest"]
    r = dave.post(
        f"/v2/docker/{other}/blobs/uploads/", params={"mount": hidden, "from": f"docker/{img}"}
    )
    assert r.status_code == 202, r.text
    assert admin.head(f"/v2/dev/{other}/blobs/{hidden}").status_code == 404

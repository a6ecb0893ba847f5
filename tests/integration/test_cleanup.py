"""Cleanup and the trash (docs/lifecycle.md) through a real ``tidegate serve`` with the default
repositories and groups of PRODUCT.md §3: plan, then apply exactly the plan; items whose state
changed since planning are refused; a protected repository is never touched; deletes go to the
trash and come back exactly; retention policies in the API and the CLI. Every test runs on
SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import database_for
from tests.support.pushes import push, push_blob, sha256, unique
from tests.support.pushes import push_image as image
from tests.support.server import RunningServer, tidegate_server

TIDEGATE = os.path.join(os.path.dirname(sys.executable), "tidegate")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
PASSWORD = "a long enough password"
SNAPSHOTS = {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0}]}


@dataclass
class Env:
    server: RunningServer
    database_url: str

    def client(self, who: str) -> httpx.Client:
        if who == "admin":
            return self.server.client()
        return httpx.Client(base_url=self.server.url, auth=(who, PASSWORD), timeout=60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_for(request, tmp_path_factory, "cleanup")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("cleanup")
    with tidegate_server(base / "data", env={"TIDEGATE_DATABASE_URL": database_url}) as running:
        with running.client() as admin:
            for user, group in (
                ("dave", "developers"),
                ("tess", "testers"),
                ("olga", "operations"),
            ):
                body = {"username": user, "password": PASSWORD, "groups": [group]}
                assert admin.post("/api/v1/users", json=body).status_code == 201
        yield Env(running, database_url)


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


# ---------------------------------------------------------------------------- helpers


def signature(c: httpx.Client, name: str, subject: tuple[bytes, str]) -> str:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE,
        "config": {"mediaType": OCI_EMPTY, "digest": push_blob(c, name, b"{}"), "size": 2},
        "layers": [{"mediaType": SIGNATURE, "digest": push_blob(c, name, b"sig" * 5), "size": 15}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject[1], "size": len(subject[0])},
    }
    raw = json.dumps(body).encode()
    return push(c, name, sha256(raw), body)[1]


def plan(c: httpx.Client, repo: str, policy: dict[str, Any] | None = None) -> httpx.Response:
    return c.post("/api/v1/cleanup/plans", json={"repo": repo, **(policy or {})})


def mine(items: list[dict[str, Any]], img: str) -> list[dict[str, Any]]:
    return [i for i in items if i["image"] == img]


def events(env: Env) -> list[tuple[str, str, dict[str, Any]]]:
    engine = create_engine(env.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT type, subject, data FROM events ORDER BY id"))
            return [(t, s, d if isinstance(d, dict) else json.loads(d)) for t, s, d in rows]
    finally:
        engine.dispose()


def promote_to_prod(admin: httpx.Client, img: str, tag: str) -> None:
    r = admin.post(
        "/api/v1/promotions", json={"source": "dev", "target": "test", "image": img, "tag": tag}
    )
    assert r.status_code == 201, r.text
    evidence = {"qa.automated": ["passed"], "qa.uat": ["passed"]}
    params = {"repo": "test", "image": img, "reference": tag}
    assert admin.patch("/api/v1/properties", params=params, json=evidence).status_code == 200
    r = admin.post(
        "/api/v1/promotions", json={"source": "test", "target": "prod", "image": img, "tag": tag}
    )
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------------------- tests
def test_plan_then_apply_deletes_exactly_the_plan(
    env: Env, dave: httpx.Client, admin: httpx.Client
) -> None:
    img = unique()
    base = uuid.uuid4().bytes * 256  # 4 KiB shared by every version
    release = image(dave, f"dev/{img}", "1.0", [base, uuid.uuid4().bytes * 64])
    snap1 = image(dave, f"dev/{img}", "1.1-SNAPSHOT", [base, uuid.uuid4().bytes * 32])
    snap2 = image(dave, f"dev/{img}", "1.2-SNAPSHOT", [base, uuid.uuid4().bytes * 16])
    also = image(dave, f"dev/{img}", "1.0-SNAPSHOT", [base])  # tagged twice below
    r = dave.put(
        f"/v2/dev/{img}/manifests/also", content=also[0], headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201

    r = plan(dave, "dev", {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 1}]})
    assert r.status_code == 201, r.text
    p = r.json()
    items = mine(p["items"], img)
    # keep_last 1 keeps the newest snapshot tag (1.0-SNAPSHOT); also is tagged "also" too
    assert sorted((i["kind"], i["digest"]) for i in items) == sorted(
        [("manifest", snap1[1]), ("manifest", snap2[1])]
    )
    assert all("not among the 1 newest" in i["reason"] for i in items)
    # bytes freed: the private layer, the config and the manifest; never the shared base
    sizes = {i["digest"]: i["bytes_freed"] for i in items}
    layer1 = json.loads(snap1[0])["layers"][1]["size"]
    config1 = json.loads(snap1[0])["config"]["size"]
    assert sizes[snap1[1]] == layer1 + config1 + len(snap1[0])
    assert p["state"] == "planned" and p["count"] == len(p["items"])
    assert dave.get(f"/api/v1/cleanup/plans/{p['id']}").json()["items"] == p["items"]

    r = dave.post(f"/api/v1/cleanup/plans/{p['id']}/apply")
    assert r.status_code == 200, r.text
    result = r.json()
    assert {i["digest"] for i in mine(result["applied"], img)} == {snap1[1], snap2[1]}
    assert result["refused"] == []
    for gone in ("1.1-SNAPSHOT", "1.2-SNAPSHOT", snap1[1]):
        assert dave.get(f"/v2/dev/{img}/manifests/{gone}").status_code == 404
    for kept, raw in (("1.0", release[0]), ("1.0-SNAPSHOT", also[0]), ("also", also[0])):
        assert dave.get(f"/v2/dev/{img}/manifests/{kept}").content == raw
    base_digest = sha256(base)
    assert dave.get(f"/v2/dev/{img}/blobs/{base_digest}").content == base

    # applied once
    again = dave.post(f"/api/v1/cleanup/plans/{p['id']}/apply")
    assert again.status_code == 409
    assert "applied once" in again.json()["message"]
    assert dave.get(f"/api/v1/cleanup/plans/{p['id']}").json()["state"] == "applied"

    # in the trash, with the tags they had; one audit entry; events
    trash = dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json()
    assert {(e["digest"], tuple(e["tags"]), e["plan_id"]) for e in trash} == {
        (snap1[1], ("1.1-SNAPSHOT",), p["id"]),
        (snap2[1], ("1.2-SNAPSHOT",), p["id"]),
    }
    audit = admin.get("/api/v1/audit", params={"action": "cleanup.applied"}).json()
    entry = next(a for a in audit if a["detail"]["plan_id"] == p["id"])
    assert entry["actor"] == "dave" and entry["detail"]["deleted_manifests"] >= 2
    types = [(t, s) for t, s, _ in events(env)]
    assert ("cleanup.applied", "dev") in types
    assert ("image.deleted", f"dev/{img}@{snap1[1]}") in types


def test_apply_refuses_a_moved_tag_and_an_added_property(
    dave: httpx.Client, tmp_path: Path, env: Env
) -> None:
    img = unique()
    moved = image(dave, f"dev/{img}", "a-SNAPSHOT", [uuid.uuid4().bytes])
    marked = image(dave, f"dev/{img}", "b-SNAPSHOT", [uuid.uuid4().bytes])
    plain = image(dave, f"dev/{img}", "c-SNAPSHOT", [uuid.uuid4().bytes])
    p = plan(dave, "dev", SNAPSHOTS).json()
    assert {i["digest"] for i in mine(p["items"], img)} == {moved[1], marked[1], plain[1]}

    # after planning: a-SNAPSHOT moves to a new digest, b gets a property
    newer = image(dave, f"dev/{img}", "a-SNAPSHOT", [uuid.uuid4().bytes])
    params = {"repo": "dev", "image": img, "reference": "b-SNAPSHOT"}
    r = dave.patch("/api/v1/properties", params=params, json={"keep": ["please"]})
    assert r.status_code == 200, r.text

    cli = subprocess.run(
        [TIDEGATE, "cleanup", "apply", p["id"], "--json"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HOME": str(tmp_path),
            "TIDEGATE_URL": env.server.url,
            "TIDEGATE_USERNAME": "dave",
            "TIDEGATE_TOKEN": PASSWORD,
        },
    )
    assert cli.returncode == 8, cli.stdout + cli.stderr  # some items refused
    result = json.loads(cli.stdout)
    refused = {i["digest"]: i["reason"] for i in mine(result["refused"], img)}
    assert "tags of" in refused[moved[1]] and "changed since planning" in refused[moved[1]]
    assert "properties of" in refused[marked[1]] and "added keep=please" in refused[marked[1]]
    assert [i["digest"] for i in mine(result["applied"], img)] == [plain[1]]
    assert dave.get(f"/v2/dev/{img}/manifests/a-SNAPSHOT").content == newer[0]
    assert dave.get(f"/v2/dev/{img}/manifests/b-SNAPSHOT").content == marked[0]
    assert dave.get(f"/v2/dev/{img}/manifests/c-SNAPSHOT").status_code == 404


def test_a_tag_only_item_is_refused_when_the_tag_moved(dave: httpx.Client) -> None:
    img = unique()
    first = image(dave, f"dev/{img}", "1.0", [uuid.uuid4().bytes])
    r = dave.put(
        f"/v2/dev/{img}/manifests/1.0-SNAPSHOT",
        content=first[0],
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    p = plan(dave, "dev", SNAPSHOTS).json()
    assert [(i["kind"], i["tag"]) for i in mine(p["items"], img)] == [("tag", "1.0-SNAPSHOT")]
    image(dave, f"dev/{img}", "1.0-SNAPSHOT", [uuid.uuid4().bytes])
    result = dave.post(f"/api/v1/cleanup/plans/{p['id']}/apply").json()
    [refused] = mine(result["refused"], img)
    assert "moved since planning" in refused["reason"]


def test_restore_brings_back_the_exact_manifest_tags_and_properties(dave: httpx.Client) -> None:
    img = unique()
    raw, digest = image(dave, f"dev/{img}", "2.0", [b"restore me" * 100])
    dave.put(f"/v2/dev/{img}/manifests/stable", content=raw, headers={"Content-Type": OCI_MANIFEST})
    params = {"repo": "dev", "image": img, "reference": "2.0"}
    assert dave.patch("/api/v1/properties", params=params, json={"qa": ["ok"]}).status_code == 200
    sig = signature(dave, f"dev/{img}", (raw, digest))
    assert dave.delete(f"/v2/dev/{img}/manifests/{sig}").status_code == 202
    assert dave.delete(f"/v2/dev/{img}/manifests/{digest}").status_code == 202
    assert dave.get(f"/v2/dev/{img}/manifests/2.0").status_code == 404

    [entry, sig_entry] = dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json()
    assert entry["digest"] == digest and sig_entry["digest"] == sig
    assert entry["tags"] == ["2.0", "stable"]
    assert entry["properties"]["qa"] == ["ok"]
    assert entry["properties"]["tidegate.pushed_by"] == ["dave"]

    r = dave.post(f"/api/v1/trash/{entry['id']}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["tags_restored"] == ["2.0", "stable"]
    for ref in ("2.0", "stable", digest):
        got = dave.get(f"/v2/dev/{img}/manifests/{ref}")
        assert got.content == raw and got.headers["Docker-Content-Digest"] == digest
    layer = json.loads(raw)["layers"][0]["digest"]
    assert dave.get(f"/v2/dev/{img}/blobs/{layer}").content == b"restore me" * 100
    got = dave.get("/api/v1/properties", params=params).json()["properties"]
    assert got["qa"] == ["ok"] and got["tidegate.pushed_by"] == ["dave"]
    # the signature comes back as a referrer of its subject
    assert dave.post(f"/api/v1/trash/{sig_entry['id']}/restore").status_code == 200
    referrers = dave.get(f"/v2/dev/{img}/referrers/{digest}").json()["manifests"]
    assert [x["digest"] for x in referrers] == [sig]
    # the entries are gone
    assert dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json() == []
    assert dave.post(f"/api/v1/trash/{entry['id']}/restore").status_code == 404


def test_a_deleted_tag_is_restored_only_where_it_is_free(dave: httpx.Client) -> None:
    img = unique()
    one = image(dave, f"dev/{img}", "latest", [uuid.uuid4().bytes])
    assert dave.delete(f"/v2/dev/{img}/manifests/latest").status_code == 202
    assert dave.get(f"/v2/dev/{img}/manifests/{one[1]}").content == one[0]  # manifest stays
    [entry] = dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json()
    assert (entry["kind"], entry["tags"], entry["digest"]) == ("tag", ["latest"], one[1])
    image(dave, f"dev/{img}", "latest", [uuid.uuid4().bytes])  # the tag is taken meanwhile
    r = dave.post(f"/api/v1/trash/{entry['id']}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["tags_restored"] == []
    assert "now points at" in r.json()["tags_refused"][0]["reason"]


def test_who_may_plan_and_apply(
    dave: httpx.Client, tess: httpx.Client, admin: httpx.Client, env: Env
) -> None:
    img = unique()
    image(admin, f"dev/{img}", "1.0", [uuid.uuid4().bytes])
    promote_to_prod(admin, img, "1.0")

    # a developer may not plan in prod, a tester not in dev
    r = plan(dave, "prod", SNAPSHOTS)
    assert r.status_code == 403 and "needs delete" in r.json()["message"]
    assert plan(tess, "dev", SNAPSHOTS).status_code == 403
    # a developer's delete in prod: 403
    assert dave.delete(f"/v2/prod/{img}/manifests/1.0").status_code == 403
    # nor apply a plan someone else made in a repository where they may not delete
    p = plan(admin, "test", {"rules": [{"tags": "*", "keep_last": 0}]}).json()
    assert dave.post(f"/api/v1/cleanup/plans/{p['id']}/apply").status_code == 403

    # protected: even an admin's over-broad plan lists prod's images as refused, deletes none
    r = plan(admin, "prod", {"rules": [{"tags": "*", "keep_last": 0}], "untagged_older_than": "0s"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["items"] == []
    [refused] = mine(p["refused"], img)
    assert "repository 'prod' is protected" in refused["reason"]
    r = dave.post(f"/api/v1/cleanup/plans/{p['id']}/apply")
    assert r.status_code == 403 and "needs delete" in r.json()["message"]
    assert admin.post(f"/api/v1/cleanup/plans/{p['id']}/apply").json()["applied"] == []
    assert admin.get(f"/v2/prod/{img}/manifests/1.0").status_code == 200


def test_retention_policies_in_the_api_and_cli(
    dave: httpx.Client, admin: httpx.Client, tmp_path: Path, env: Env
) -> None:
    # bad policies: 400 naming the field
    for body, needle in (
        ({"rules": [{"tags": "*", "older_than": "14 days"}]}, "rules[0].older_than"),
        ({"rules": [{"tags": "[a]", "keep_last": 1}]}, "is not a tag glob"),
        ({"rules": [{"tags": "*", "keep_last": 1, "where": ["A=b"]}]}, "rules[0].where[0]"),
    ):
        r = admin.put("/api/v1/repositories/dev/retention", json=body)
        assert r.status_code == 400, r.text
        assert needle in r.json()["message"]
        r = plan(admin, "dev", body)
        assert r.status_code == 400 and needle in r.json()["message"]
    r = admin.post("/api/v1/cleanup/plans", json={"repo": "dev", "rules": "*"})
    assert r.status_code == 422

    # manage is needed: developers do not have it in dev
    policy = {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 2}], "untagged_older_than": "7d"}
    assert dave.put("/api/v1/repositories/dev/retention", json=policy).status_code == 403
    r = admin.put("/api/v1/repositories/dev/retention", json={**policy, "schedule": "24h"})
    assert r.status_code == 200, r.text
    # the schedule's clock starts now: the first run is a day later, not at once
    next_run = datetime.fromisoformat(r.json()["next_run_at"].replace("Z", "+00:00"))
    assert next_run > datetime.now(UTC) + timedelta(hours=23)
    assert dave.get("/api/v1/repositories/dev/retention").json()["schedule"] == "24h"
    # a plan without rules uses the repository's policy
    p = plan(dave, "dev").json()
    assert p["policy"]["rules"] == policy["rules"]

    # the CLI shows and sets it; the plan command reads a rules file
    cli_env = {
        **os.environ,
        "HOME": str(tmp_path),
        "TIDEGATE_URL": env.server.url,
        "TIDEGATE_USERNAME": "admin",
        "TIDEGATE_TOKEN": env.server.password,
    }
    rules = tmp_path / "snapshots.yaml"
    rules.write_text("rules:\n  - tags: '*-SNAPSHOT'\n    keep_last: 5\n")
    out = subprocess.run(
        [TIDEGATE, "repo", "retention", "dev", "--file", str(rules), "--json"],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 5}]}
    out = subprocess.run(
        [TIDEGATE, "cleanup", "plan", "dev", "--rules", str(rules)],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert out.returncode == 0, out.stderr
    assert "apply with: tidegate cleanup apply" in out.stdout or " 0 items" in out.stdout
    # the example of docs/lifecycle.md, copied as it is (under a top-level retention: key)
    wrapped = tmp_path / "wrapped.yaml"
    wrapped.write_text("retention:\n  rules:\n    - tags: '*-SNAPSHOT'\n      keep_last: 3\n")
    for command in (["repo", "retention", "dev", "--file"], ["cleanup", "plan", "dev", "--rules"]):
        out = subprocess.run(
            [TIDEGATE, *command, str(wrapped), "--json"],
            capture_output=True,
            text=True,
            env=cli_env,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout).get("policy", json.loads(out.stdout))["rules"] == [
            {"tags": "*-SNAPSHOT", "keep_last": 3}
        ]

    assert admin.delete("/api/v1/repositories/dev/retention").status_code == 204
    assert admin.get("/api/v1/repositories/dev/retention").status_code == 404
    r = plan(dave, "dev")
    assert r.status_code == 400 and "has no retention policy" in r.json()["message"]


def test_two_applies_of_one_plan_at_once_apply_it_once(dave: httpx.Client, env: Env) -> None:
    img = unique()
    for n in range(3):
        image(dave, f"dev/{img}", f"{n}-SNAPSHOT", [uuid.uuid4().bytes])
    p = plan(dave, "dev", SNAPSHOTS).json()
    answers: list[httpx.Response] = []

    def apply() -> None:
        with env.client("dave") as c:
            answers.append(c.post(f"/api/v1/cleanup/plans/{p['id']}/apply"))

    threads = [threading.Thread(target=apply) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    [winner] = [r.json() for r in answers if r.status_code == 200]
    assert len(mine(winner["applied"], img)) == 3
    trash = dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json()
    assert len(trash) == 3  # each manifest trashed once


def test_a_grant_limited_to_some_images_cannot_act_on_the_whole_repository(
    env: Env, admin: httpx.Client
) -> None:
    """Manage and delete on team-x/** in dev must not reach the other images of dev: not by a
    retention policy (which a schedule would apply to every image), not through the
    repository's settings, storage figures or event subscriptions."""
    user = f"scoped-{uuid.uuid4().hex[:6]}"
    r = admin.post("/api/v1/users", json={"username": user, "password": PASSWORD, "groups": []})
    assert r.status_code == 201, r.text
    target = {
        "name": f"team-x-{uuid.uuid4().hex[:6]}",
        "repositories": ["dev"],
        "include": ["team-x/**"],
        "users": {user: ["read", "deploy", "delete", "manage"]},
    }
    assert admin.post("/api/v1/permissions", json=target).status_code == 201
    other = unique("shop/other")
    image(admin, f"dev/{other}", "1.0", [uuid.uuid4().bytes])
    policy = {"rules": [{"tags": "*", "keep_last": 0}], "schedule": "5m"}
    with env.client(user) as scoped:
        r = scoped.put("/api/v1/repositories/dev/retention", json=policy)
        assert r.status_code == 403, r.text
        assert "every image" in r.json()["message"]
        assert scoped.patch("/api/v1/repositories/dev", json={"quota": 1}).status_code == 403
        assert scoped.get("/api/v1/storage/dev").status_code == 403
        hook = {"url": "http://127.0.0.1:9/h", "events": ["*"], "repositories": ["dev"]}
        r = scoped.post("/api/v1/webhooks", json={**hook, "secret": "s" * 20})
        assert r.status_code == 403, r.text
    assert admin.get("/api/v1/repositories/dev/retention").json().get("rules") in (None, [])
    assert admin.head(f"/v2/dev/{other}/manifests/1.0").status_code == 200


def test_a_tag_only_item_is_refused_when_the_manifests_other_tags_changed(
    dave: httpx.Client,
) -> None:
    """The plan deletes t1 of a manifest that keeps keep-t2; once keep-t2 is gone, deleting t1
    would leave the manifest untagged, which the plan never showed: refused."""
    img = unique()
    raw, digest = image(dave, f"dev/{img}", "t1-SNAPSHOT", [uuid.uuid4().bytes])
    r = dave.put(
        f"/v2/dev/{img}/manifests/keep-t2", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    p = plan(dave, "dev", SNAPSHOTS).json()
    assert [(i["kind"], i["tag"]) for i in mine(p["items"], img)] == [("tag", "t1-SNAPSHOT")]
    assert dave.delete(f"/v2/dev/{img}/manifests/keep-t2").status_code == 202

    result = dave.post(f"/api/v1/cleanup/plans/{p['id']}/apply").json()
    [refused] = mine(result["refused"], img)
    assert f"tags of {digest} changed since planning" in refused["reason"]
    assert "now: t1-SNAPSHOT" in refused["reason"]
    assert dave.get(f"/v2/dev/{img}/manifests/t1-SNAPSHOT").content == raw


def test_a_plan_shows_only_images_the_viewer_may_read_and_is_applied_by_who_may_delete_all(
    env: Env, admin: httpx.Client
) -> None:
    user = f"scoped-{uuid.uuid4().hex[:6]}"
    r = admin.post("/api/v1/users", json={"username": user, "password": PASSWORD, "groups": []})
    assert r.status_code == 201, r.text
    target = {
        "name": f"team-x-{uuid.uuid4().hex[:6]}",
        "repositories": ["dev"],
        "include": ["team-x/**"],
        "users": {user: ["read", "deploy", "delete"]},
    }
    assert admin.post("/api/v1/permissions", json=target).status_code == 201
    marker = uuid.uuid4().hex[:8]
    rules = {"rules": [{"tags": f"*-{marker}", "keep_last": 0}]}
    other = unique("shop/secret")
    secret = image(admin, f"dev/{other}", f"1-{marker}", [uuid.uuid4().bytes])
    # a refusal on the unreadable image too: a protecting property
    params = {"repo": "dev", "image": other, "reference": f"1-{marker}"}
    assert admin.patch("/api/v1/properties", params=params, json={"hold": ["y"]}).status_code == 200
    image(admin, f"dev/{other}", f"2-{marker}", [uuid.uuid4().bytes])
    with env.client(user) as scoped:
        mine_img = unique("team-x/app")
        own = image(scoped, f"dev/{mine_img}", f"1-{marker}", [uuid.uuid4().bytes])

        # planning considers only readable images: the other image is not even refused
        r = plan(scoped, "dev", {**rules, "rules": [{**rules["rules"][0], "protect": ["hold=y"]}]})
        assert r.status_code == 201, r.text
        assert other not in r.text and secret[1] not in r.text
        assert [i["digest"] for i in mine(r.json()["items"], mine_img)] == [own[1]]

        # an admin's plan lists both; the scoped user sees only its image, and a count
        r = plan(admin, "dev", {**rules, "rules": [{**rules["rules"][0], "protect": ["hold=y"]}]})
        assert r.status_code == 201, r.text
        p = r.json()
        assert mine(p["items"], other) and mine(p["refused"], other) and p["hidden"] == 0
        seen = scoped.get(f"/api/v1/cleanup/plans/{p['id']}")
        assert seen.status_code == 200, seen.text
        assert other not in seen.text and secret[1] not in seen.text
        assert [i["image"] for i in seen.json()["items"]] == [mine_img]
        assert seen.json()["hidden"] == len(p["items"]) + len(p["refused"]) - 1
        listed = scoped.get("/api/v1/cleanup/plans", params={"repo": "dev"}).json()
        assert all(other not in json.dumps(x) for x in listed)

        # applying it needs delete on every image it lists: 403, the plan left unclaimed
        r = scoped.post(f"/api/v1/cleanup/plans/{p['id']}/apply")
        assert r.status_code == 403, r.text
        assert "needs delete on every image" in r.json()["message"]
        assert other not in r.json()["message"] and "may not read" in r.json()["message"]
        assert admin.get(f"/api/v1/cleanup/plans/{p['id']}").json()["state"] == "planned"
    r = admin.post(f"/api/v1/cleanup/plans/{p['id']}/apply")
    assert r.status_code == 200, r.text
    assert {i["image"] for i in r.json()["applied"]} >= {other, mine_img}


def test_restore_over_a_pushed_again_manifest_keeps_its_properties_and_says_which(
    dave: httpx.Client,
) -> None:
    img = unique()
    raw, digest = image(dave, f"dev/{img}", "orig", [uuid.uuid4().bytes])
    params = {"repo": "dev", "image": img, "reference": "orig"}
    props = {"qa.automated": ["passed"], "keep": ["x"]}
    assert dave.patch("/api/v1/properties", params=params, json=props).status_code == 200
    assert dave.delete(f"/v2/dev/{img}/manifests/{digest}").status_code == 202
    r = dave.put(
        f"/v2/dev/{img}/manifests/newtag", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    params["reference"] = "newtag"
    failed = {"qa.automated": ["failed"]}
    assert dave.patch("/api/v1/properties", params=params, json=failed).status_code == 200

    [entry] = dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json()
    r = dave.post(f"/api/v1/trash/{entry['id']}/restore")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["manifest"] == "already present"
    assert "keep" in answer["properties_restored"]
    assert "qa.automated" not in answer["properties_restored"]
    kept = {k["key"]: k for k in answer["properties_kept"]}
    assert kept["qa.automated"]["current"] == ["failed"]
    assert kept["qa.automated"]["trashed"] == ["passed"]
    got = dave.get("/api/v1/properties", params=params).json()["properties"]
    assert got["qa.automated"] == ["failed"] and got["keep"] == ["x"]
    assert sorted(answer["tags_restored"]) == ["orig"]


def test_purging_a_trash_entry_needs_delete_and_is_final(
    dave: httpx.Client, tess: httpx.Client, tmp_path: Path, env: Env
) -> None:
    img = unique()
    _, digest = image(dave, f"dev/{img}", "1.0", [uuid.uuid4().bytes])
    assert dave.delete(f"/v2/dev/{img}/manifests/{digest}").status_code == 202
    [entry] = dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json()
    assert tess.delete(f"/api/v1/trash/{entry['id']}").status_code in (403, 404)
    cli = subprocess.run(
        [TIDEGATE, "trash", "purge", str(entry["id"])],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HOME": str(tmp_path),
            "TIDEGATE_URL": env.server.url,
            "TIDEGATE_USERNAME": "dave",
            "TIDEGATE_TOKEN": PASSWORD,
        },
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert f"purged trash entry {entry['id']}" in cli.stdout
    assert dave.get("/api/v1/trash", params={"repo": "dev", "image": img}).json() == []
    assert dave.post(f"/api/v1/trash/{entry['id']}/restore").status_code == 404


def test_a_tag_deleted_by_cleanup_is_published_like_a_v2_tag_delete(
    env: Env, dave: httpx.Client
) -> None:
    img = unique()
    raw, digest = image(dave, f"dev/{img}", "9.9-SNAPSHOT", [uuid.uuid4().bytes])
    r = dave.put(
        f"/v2/dev/{img}/manifests/keep", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    r = plan(dave, "dev", {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0}]})
    assert r.status_code == 201, r.text
    items = mine(r.json()["items"], img)
    assert [(i["kind"], i.get("tag")) for i in items] == [("tag", "9.9-SNAPSHOT")]
    assert dave.post(f"/api/v1/cleanup/plans/{r.json()['id']}/apply").status_code == 200
    assert dave.get(f"/v2/dev/{img}/manifests/keep").content == raw
    published = [(t, s, d) for t, s, d in events(env) if t == "image.deleted"]
    assert any(
        s == f"dev/{img}:9.9-SNAPSHOT" and d["digest"] == digest and d["tag"] == "9.9-SNAPSHOT"
        for _, s, d in published
    )


def test_restoring_an_entry_of_an_image_one_cannot_read_is_404_and_names_nothing(
    admin: httpx.Client, dave: httpx.Client, tess: httpx.Client
) -> None:
    """A trash entry id is guessable: restoring one of another team's images used to answer
    403 naming its repository and image. Now it is as absent as in the trash list (404); a
    reader without ``delete`` still gets the 403 that says what is missing."""
    key = f"secret-{uuid.uuid4().hex[:8]}"
    assert admin.post("/api/v1/repositories", json={"key": key, "kind": "local"}).status_code == 201
    img = unique("hidden/app")
    _, digest = image(admin, f"{key}/{img}", "1.0", [uuid.uuid4().bytes])
    assert admin.delete(f"/v2/{key}/{img}/manifests/{digest}").status_code == 202
    [entry] = admin.get("/api/v1/trash", params={"repo": key, "image": img}).json()
    for who in (dave, tess):
        r = who.post(f"/api/v1/trash/{entry['id']}/restore")
        assert r.status_code == 404, r.text
        assert r.json()["message"] == f"no trash entry {entry['id']}"
        assert key not in r.text and img not in r.text
    # tess reads dev but may not delete there: 403, which names what she can see anyway
    dev_img = unique()
    _, dev_digest = image(dave, f"dev/{dev_img}", "1.0", [uuid.uuid4().bytes])
    assert dave.delete(f"/v2/dev/{dev_img}/manifests/{dev_digest}").status_code == 202
    [dev_entry] = dave.get("/api/v1/trash", params={"repo": "dev", "image": dev_img}).json()
    assert tess.get("/api/v1/trash", params={"repo": "dev", "image": dev_img}).json()
    assert tess.post(f"/api/v1/trash/{dev_entry['id']}/restore").status_code == 403
    assert admin.get("/api/v1/trash", params={"repo": key, "image": img}).json() == [entry]

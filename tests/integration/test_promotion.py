"""Promotion, properties and gates (docs/promotion.md) through a real ``tidegate serve``, as the
default groups of PRODUCT.md §3 see them: the story of PRODUCT.md §10 scenarios 2-6, the
closure of a multi-arch index with referrers, move and copy, retagging, immutable targets,
concurrent promotions, failures that leave the target unchanged, property limits, lineage, the
gate API and the ``tidegate promote`` command.

The server runs the default repositories (dev, test, prod with their gates; test and prod take
content only by promotion) plus ``sparse`` (``allow_sparse``, admin only), where an index may
list a child it does not hold. Every test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import database_for
from tests.support.pushes import push, push_blob, sha256, unique
from tests.support.server import RunningServer, tidegate_server

TIDEGATE = os.path.join(os.path.dirname(sys.executable), "tidegate")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SPDX = "application/spdx+json"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
PASSWORD = "a long enough password"

CONFIG = """\
repositories:
  - {key: dev, kind: local, stage: dev}
  - {key: test, kind: local, stage: test, allow_push: false, gate: {from: [dev]}}
  - key: prod
    kind: local
    stage: prod
    protected: true
    allow_push: false
    immutable_tags: true
    gate: {from: [test], require: ["qa.automated=passed", "qa.uat=passed"]}
  - {key: hub, kind: remote, upstream: "https://registry-1.docker.io"}
  - {key: docker, kind: virtual, members: [dev, test, prod, hub], default_deploy: dev}
  - {key: release, kind: virtual, members: [prod, hub]}
  - {key: sparse, kind: local, allow_sparse: true}
"""


@dataclass
class Env:
    server: RunningServer
    ci_token: str
    database_url: str

    def client(self, who: str) -> httpx.Client:
        if who == "admin":
            return self.server.client()
        auth = ("ci-bot", self.ci_token) if who == "ci" else (who, PASSWORD)
        return httpx.Client(base_url=self.server.url, auth=auth, timeout=60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_for(request, tmp_path_factory, "promotion")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("promotion")
    config = base / "tidegate.yaml"
    config.write_text(CONFIG)
    db_env = {"TIDEGATE_DATABASE_URL": database_url}
    with tidegate_server(base / "data", config=config, env=db_env) as running:
        with running.client() as admin:
            for user, group in (
                ("dave", "developers"),
                ("tess", "testers"),
                ("olga", "operations"),
                ("nobody", None),
            ):
                body = {"username": user, "password": PASSWORD, "groups": [group] if group else []}
                assert admin.post("/api/v1/users", json=body).status_code == 201
            r = admin.post("/api/v1/service-accounts", json={"name": "ci-bot", "groups": ["ci"]})
            assert r.status_code == 201, r.text
            r = admin.post("/api/v1/tokens", json={"name": "pipeline", "principal": "ci-bot"})
            assert r.status_code == 201, r.text
            token = r.json()["token"]
        yield Env(running, token, database_url)


@pytest.fixture
def admin(env: Env) -> Iterator[httpx.Client]:
    with env.client("admin") as c:
        yield c


@pytest.fixture
def ci(env: Env) -> Iterator[httpx.Client]:
    with env.client("ci") as c:
        yield c


@pytest.fixture
def dave(env: Env) -> Iterator[httpx.Client]:
    with env.client("dave") as c:
        yield c


@pytest.fixture
def tess(env: Env) -> Iterator[httpx.Client]:
    with env.client("tess") as c:
        yield c


@pytest.fixture
def olga(env: Env) -> Iterator[httpx.Client]:
    with env.client("olga") as c:
        yield c


# ---------------------------------------------------------------------------- helpers


def image(c: httpx.Client, name: str, ref: str, layer: bytes | None = None) -> tuple[bytes, str]:
    """Push a one-layer image; (manifest bytes, digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": uuid.uuid4().hex}).encode()
    layer = layer or uuid.uuid4().bytes * 64
    body = {
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
    return push(c, name, ref, body)


def referrer(
    c: httpx.Client, name: str, subject: tuple[bytes, str], artifact_type: str, media: str
) -> str:
    """Attach an artifact (an SBOM, a signature) to ``subject``; its digest."""
    payload = uuid.uuid4().bytes
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": push_blob(c, name, b"{}"), "size": 2},
        "layers": [{"mediaType": media, "digest": push_blob(c, name, payload), "size": 16}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject[1], "size": len(subject[0])},
    }
    raw = json.dumps(body).encode()
    return push(c, name, sha256(raw), body)[1]


def promote(c: httpx.Client, **body: Any) -> httpx.Response:
    return c.post("/api/v1/promotions", json=body)


def props(c: httpx.Client, repo: str, img: str, ref: str) -> httpx.Response:
    return c.get("/api/v1/properties", params={"repo": repo, "image": img, "reference": ref})


def patch(c: httpx.Client, repo: str, img: str, ref: str, body: Any) -> httpx.Response:
    params = {"repo": repo, "image": img, "reference": ref}
    return c.patch("/api/v1/properties", params=params, json=body)


def manifest(c: httpx.Client, name: str, ref: str) -> httpx.Response:
    return c.get(f"/v2/{name}/manifests/{ref}", headers=ACCEPT)


def events(env: Env) -> list[tuple[str, str, dict[str, Any]]]:
    """The events outbox, read from the server's database."""
    engine = create_engine(env.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT type, subject, data FROM events ORDER BY id"))
            return [(t, s, d if isinstance(d, dict) else json.loads(d)) for t, s, d in rows]
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- the story
def test_dev_to_test_to_prod_with_evidence(
    env: Env,
    admin: httpx.Client,
    ci: httpx.Client,
    dave: httpx.Client,
    tess: httpx.Client,
    olga: httpx.Client,
) -> None:
    img = unique()
    raw, digest = image(dave, f"dev/{img}", "1.4.0")

    # 2. CI promotes it to test
    r = promote(ci, source="dev", target="test", image=img, tag="1.4.0")
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["outcome"] == "promoted"
    assert record["actor"] == "ci-bot"
    assert record["digest"] == digest
    assert record["evaluation"]["checks"][0] == {
        "condition": "from",
        "passed": True,
        "reason": "dev is an allowed source (dev)",
    }
    assert manifest(tess, f"test/{img}", "1.4.0").content == raw

    # 3. CI records the automated results as properties on test
    evidence = {
        "qa.automated": ["passed"],
        "qa.report": ["https://ci.example/r/1?a=b,c;d"],
        "qa.commit": ["0123abcd"],
    }
    r = patch(ci, "test", img, "1.4.0", evidence)
    assert r.status_code == 200, r.text
    # 4. a tester records qa.uat=passed, and cannot push or delete anything
    r = patch(tess, "test", img, "1.4.0", {"qa.uat": ["passed"]})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["qa.automated"] == ["passed"]
    assert tess.delete(f"/v2/test/{img}/manifests/1.4.0").status_code == 403
    assert tess.delete(f"/v2/test/{img}/manifests/{digest}").status_code == 403
    r = tess.put(
        f"/v2/test/{img}/manifests/other", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 403
    assert promote(tess, source="test", target="prod", image=img, tag="1.4.0").status_code == 403

    # 5. operations promote it to prod; the gate passes; the tag is immutable there
    r = promote(olga, source="test", target="prod", image=img, tag="1.4.0")
    assert r.status_code == 201, r.text
    checks = r.json()["evaluation"]["checks"]
    assert [(c["condition"], c["passed"]) for c in checks] == [
        ("from", True),
        ("qa.automated=passed", True),
        ("qa.uat=passed", True),
    ]
    assert manifest(olga, f"prod/{img}", "1.4.0").content == raw
    got = props(olga, "prod", img, "1.4.0").json()["properties"]
    assert got["qa.uat"] == ["passed"]
    assert got["qa.report"] == evidence["qa.report"]
    assert got["tidegate.promoted_from"] == [f"test/{img}@{digest}"]
    assert got["tidegate.promoted_by"] == ["olga"]
    assert got["tidegate.pushed_by"] == ["dave"]
    assert olga.delete(f"/v2/prod/{img}/manifests/1.4.0").status_code == 403
    other_raw, _ = image(dave, f"dev/{img}", "1.4.1")
    r = olga.put(
        f"/v2/prod/{img}/manifests/1.4.0",
        content=other_raw,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 403
    assert manifest(olga, f"prod/{img}", "1.4.0").content == raw

    # every copy names the developer as its pusher, not the promoter
    r = olga.get("/api/v1/search", params={"image": img, "tag": "1.4.0"})
    assert r.status_code == 200, r.text
    assert {(i["repo"], i["pushed_by"]) for i in r.json()["items"]} == {
        ("dev", "dave"),
        ("test", "dave"),
        ("prod", "dave"),
    }

    # the lineage: every promotion of the digest, oldest first
    r = dave.get("/api/v1/promotions", params={"digest": digest})
    assert r.status_code == 200, r.text
    assert [(p["source"], p["target"], p["outcome"]) for p in r.json()] == [
        ("dev", "test", "promoted"),
        ("test", "prod", "promoted"),
    ]
    with env.client("nobody") as nobody:
        assert nobody.get("/api/v1/promotions", params={"digest": digest}).json() == []

    # and the events outbox
    types = [(t, s) for t, s, _ in events(env) if img in s]
    assert ("image.promoted", f"test/{img}:1.4.0") in types
    assert ("image.promoted", f"prod/{img}:1.4.0") in types
    assert any(t == "properties.changed" for t, _ in types)


def test_promotion_without_automated_results_is_refused_listed_and_recorded(
    env: Env, admin: httpx.Client, ci: httpx.Client, dave: httpx.Client, olga: httpx.Client
) -> None:
    img = unique()
    _, digest = image(dave, f"dev/{img}", "2.0.0")
    assert promote(ci, source="dev", target="test", image=img, tag="2.0.0").status_code == 201
    assert patch(ci, "test", img, "2.0.0", {"qa.uat": ["passed"]}).status_code == 200

    r = promote(olga, source="test", target="prod", image=img, tag="2.0.0")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "GATE_REFUSED"
    assert body["failed"] == [
        {"condition": "qa.automated=passed", "reason": "qa.automated is not set"}
    ]
    assert body["evaluation"]["passed"] is False
    assert "qa.automated=passed" in body["message"]
    # nothing arrived
    assert manifest(olga, f"prod/{img}", digest).status_code == 404
    assert admin.get(f"/v2/prod/{img}/tags/list").status_code == 404
    # the refusal is recorded, audited and published
    lineage = olga.get("/api/v1/promotions", params={"digest": digest}).json()
    assert [p["outcome"] for p in lineage] == ["promoted", "refused"]
    assert lineage[1]["evaluation"] == body["evaluation"]
    audit = admin.get("/api/v1/audit", params={"action": "promotion.refused"}).json()
    mine = [e for e in audit if img in (e["target"] or "")]
    assert mine and mine[0]["outcome"] == "refused" and mine[0]["actor"] == "olga"
    assert "qa.automated is not set" in mine[0]["reason"]
    assert ("promotion.refused", f"prod/{img}:2.0.0") in [(t, s) for t, s, _ in events(env)]

    # properties given in the request count for the gate (and arrive with the image)
    r = promote(
        olga,
        source="test",
        target="prod",
        image=img,
        tag="2.0.0",
        properties={"qa.automated": ["passed"]},
        dry_run=True,
    )
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and r.json()["outcome"] == "promoted"
    assert manifest(olga, f"prod/{img}", digest).status_code == 404  # a dry run changes nothing


def test_nobody_pushes_to_prod_directly(
    env: Env, admin: httpx.Client, dave: httpx.Client, olga: httpx.Client, ci: httpx.Client
) -> None:
    img = unique()
    raw, _ = image(dave, f"dev/{img}", "1.0")
    for c in (admin, olga, ci, dave):
        r = c.put(
            f"/v2/prod/{img}/manifests/1.0", content=raw, headers={"Content-Type": OCI_MANIFEST}
        )
        assert r.status_code == 403, r.text
        r = c.post(f"/v2/prod/{img}/blobs/uploads/")
        assert r.status_code == 403, r.text


def test_developers_and_testers_cannot_promote(dave: httpx.Client, tess: httpx.Client) -> None:
    img = unique()
    image(dave, f"dev/{img}", "1.0")
    r = promote(dave, source="dev", target="test", image=img, tag="1.0")
    assert r.status_code == 403
    assert "promote" in r.json()["message"]
    r = promote(tess, source="dev", target="test", image=img, tag="1.0")
    assert r.status_code == 403
    assert manifest(tess, f"test/{img}", "1.0").status_code == 404


# ---------------------------------------------------------------------------- closure
def test_multi_arch_index_with_referrers_arrives_whole(
    admin: httpx.Client, ci: httpx.Client, dave: httpx.Client
) -> None:
    img = unique("shop/multi")
    name = f"dev/{img}"
    amd = image(dave, name, "amd64-build")
    arm = image(dave, name, "arm64-build")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": d,
                "size": len(raw),
                "platform": {"architecture": arch, "os": "linux"},
            }
            for (raw, d), arch in ((amd, "amd64"), (arm, "arm64"))
        ],
    }
    index_raw, index_digest = push(dave, name, "3.0", index)
    sbom = referrer(dave, name, (index_raw, index_digest), SPDX, SPDX)
    signature = referrer(dave, name, amd, SIGNATURE, "application/vnd.dev.cosign.simplesigning")

    assert patch(dave, "dev", img, amd[1], {"build.arch": ["amd64"]}).status_code == 200
    assert patch(dave, "dev", img, sbom, {"sbom.tool": ["syft"]}).status_code == 200

    r = promote(ci, source="dev", target="test", image=img, tag="3.0")
    assert r.status_code == 201, r.text
    assert (r.json()["manifests"], r.json()["referrers"]) == (5, 2)
    # the properties of every manifest in the closure travel with it
    assert props(ci, "test", img, amd[1]).json()["properties"]["build.arch"] == ["amd64"]
    assert props(ci, "test", img, sbom).json()["properties"]["sbom.tool"] == ["syft"]
    assert manifest(ci, f"test/{img}", "3.0").content == index_raw
    for raw, digest in (amd, arm):
        assert manifest(ci, f"test/{img}", digest).content == raw
        for layer in [json.loads(raw)["config"], *json.loads(raw)["layers"]]:
            a = ci.get(f"/v2/test/{img}/blobs/{layer['digest']}")
            assert a.status_code == 200
            assert a.content == dave.get(f"/v2/{name}/blobs/{layer['digest']}").content
    listed = ci.get(f"/v2/test/{img}/referrers/{index_digest}").json()["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in listed] == [(sbom, SPDX)]
    listed = ci.get(f"/v2/test/{img}/referrers/{amd[1]}").json()["manifests"]
    assert [m["digest"] for m in listed] == [signature]
    # the platform tags of dev did not travel: only the promoted tag
    assert ci.get(f"/v2/test/{img}/tags/list").json()["tags"] == ["3.0"]

    # without referrers
    r = promote(
        ci,
        source="dev",
        target="test",
        image=img,
        tag="3.0",
        target_image=f"{img}-bare",
        include_referrers=False,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["manifests"], r.json()["referrers"]) == (3, 0)
    assert ci.get(f"/v2/test/{img}-bare/referrers/{index_digest}").json()["manifests"] == []
    assert manifest(ci, f"test/{img}-bare", sbom).status_code == 404


def test_a_gate_can_require_a_referrer(
    admin: httpx.Client, ci: httpx.Client, dave: httpx.Client
) -> None:
    gate = {"from": ["dev"], "require": [f"referrer={SPDX}"]}
    assert admin.put("/api/v1/repositories/test/gate", json=gate).status_code == 200
    try:
        img = unique()
        subject = image(dave, f"dev/{img}", "1.0")
        r = promote(ci, source="dev", target="test", image=img, tag="1.0")
        assert r.status_code == 409
        assert r.json()["failed"] == [
            {"condition": f"referrer={SPDX}", "reason": "no referrer of that type"}
        ]
        referrer(dave, f"dev/{img}", subject, SPDX, SPDX)
        r = promote(ci, source="dev", target="test", image=img, tag="1.0")
        assert r.status_code == 201, r.text
    finally:
        r = admin.put("/api/v1/repositories/test/gate", json={"from": ["dev"]})
        assert r.status_code == 200


def test_move_and_copy(ci: httpx.Client, dave: httpx.Client) -> None:
    img = unique()
    name = f"dev/{img}"
    raw, digest = image(dave, name, "copy-me")
    assert promote(ci, source="dev", target="test", image=img, tag="copy-me").status_code == 201
    assert manifest(dave, name, "copy-me").content == raw  # copy: the source stays

    raw2, digest2 = image(dave, name, "move-me")
    r = promote(ci, source="dev", target="test", image=img, tag="move-me", mode="move")
    assert r.status_code == 201, r.text
    assert manifest(ci, f"test/{img}", "move-me").content == raw2
    assert manifest(dave, name, "move-me").status_code == 404  # by tag: the tag goes
    assert manifest(dave, name, digest2).status_code == 200  # ...the manifest stays

    raw3, digest3 = image(dave, name, "by-digest")
    sig = referrer(dave, name, (raw3, digest3), SIGNATURE, "application/vnd.dev.cosign.sig")
    r = promote(
        ci, source="dev", target="test", image=img, digest=digest3, target_tag="moved", mode="move"
    )
    assert r.status_code == 201, r.text
    assert manifest(dave, name, digest3).status_code == 404  # by digest: the manifest goes
    assert manifest(dave, name, sig).status_code == 404  # ...with its referrers
    assert manifest(ci, f"test/{img}", "moved").content == raw3
    assert manifest(ci, f"test/{img}", sig).status_code == 200
    assert digest != digest3

    # a move needs delete on the source: testers may not, and nothing changes
    r = promote(dave, source="dev", target="test", image=img, tag="copy-me", mode="move")
    assert r.status_code == 403
    assert manifest(dave, name, "copy-me").status_code == 200


def test_a_tag_with_a_digest_promotes_only_while_the_tag_names_it(
    ci: httpx.Client, dave: httpx.Client
) -> None:
    """What a client checked (a dry run by tag answers the digest) is what is promoted: the
    tag pushed again since is a 409 and nothing moves; else the tag is promoted as usual and
    the record keeps it."""
    img = unique()
    name = f"dev/{img}"
    _, checked = image(dave, name, "1.0")
    r = promote(ci, source="dev", target="test", image=img, tag="1.0", dry_run=True)
    assert r.status_code == 200 and r.json()["digest"] == checked
    _, later = image(dave, name, "1.0")
    for mode in ("copy", "move"):
        r = promote(
            ci, source="dev", target="test", image=img, tag="1.0", digest=checked, mode=mode
        )
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "CONFLICT"
        assert r.json()["detail"] == {"tag": "1.0", "digest": later, "expected": checked}
        assert manifest(ci, f"test/{img}", "1.0").status_code == 404
        assert manifest(dave, name, "1.0").headers["docker-content-digest"] == later
    lineage = ci.get("/api/v1/promotions", params={"repo": "test", "image": img}).json()
    assert lineage == []  # not a gate refusal: nothing was attempted, nothing is recorded

    r = promote(ci, source="dev", target="test", image=img, tag="1.0", digest=later, mode="move")
    assert r.status_code == 201, r.text
    assert r.json()["tag"] == "1.0" and r.json()["digest"] == later
    assert manifest(ci, f"test/{img}", "1.0").headers["docker-content-digest"] == later
    assert manifest(dave, name, "1.0").status_code == 404  # a move of the tag: the tag goes
    assert manifest(dave, name, later).status_code == 200  # ...the manifest stays


def test_retag_and_untagged_arrival(ci: httpx.Client, dave: httpx.Client) -> None:
    img = unique()
    raw, digest = image(dave, f"dev/{img}", "build-17")
    r = promote(
        ci,
        source="dev",
        target="test",
        image=img,
        tag="build-17",
        target_image=f"{img}/renamed",
        target_tag="1.0.0-rc1",
    )
    assert r.status_code == 201, r.text
    assert manifest(ci, f"test/{img}/renamed", "1.0.0-rc1").content == raw
    assert ci.get(f"/v2/test/{img}/renamed/tags/list").json()["tags"] == ["1.0.0-rc1"]

    r = promote(ci, source="dev", target="test", image=img, digest=digest)
    assert r.status_code == 201, r.text
    assert r.json()["target_tag"] is None
    assert manifest(ci, f"test/{img}", digest).content == raw
    assert ci.get(f"/v2/test/{img}/tags/list").json()["tags"] == []


def test_onto_an_existing_immutable_tag_is_refused(
    admin: httpx.Client, ci: httpx.Client, dave: httpx.Client, olga: httpx.Client
) -> None:
    img = unique()
    evidence = {"qa.automated": ["passed"], "qa.uat": ["passed"]}
    first, _ = image(dave, f"dev/{img}", "a")
    second, _ = image(dave, f"dev/{img}", "b")
    for tag in ("a", "b"):
        r = promote(ci, source="dev", target="test", image=img, tag=tag, properties=evidence)
        assert r.status_code == 201, r.text
    assert (
        promote(
            olga, source="test", target="prod", image=img, tag="a", target_tag="1.0"
        ).status_code
        == 201
    )
    r = promote(olga, source="test", target="prod", image=img, tag="b", target_tag="1.0")
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "DENIED"
    assert "immutable" in r.json()["message"]
    assert manifest(olga, f"prod/{img}", "1.0").content == first
    # promoting the same digest again is not a move of the tag
    r = promote(olga, source="test", target="prod", image=img, tag="a", target_tag="1.0")
    assert r.status_code == 201, r.text
    assert manifest(olga, f"prod/{img}", "1.0").content == first
    # overwrite of a mutable tag needs overwrite: ci has none in test
    r = promote(ci, source="dev", target="test", image=img, tag="b", target_tag="a")
    assert r.status_code == 403
    assert "overwrite" in r.json()["message"]
    assert manifest(ci, f"test/{img}", "a").content == first
    assert first != second


def test_concurrent_promotions_of_one_tag_resolve_consistently(
    env: Env, ci: httpx.Client, dave: httpx.Client
) -> None:
    img = unique()
    target_image = f"{img}/together"
    digests = [image(dave, f"dev/{img}-{i}", "1.0")[1] for i in range(6)]
    results: dict[int, httpx.Response] = {}

    def run(i: int) -> None:
        with env.client("ci") as c:
            results[i] = promote(
                c,
                source="dev",
                target="test",
                image=f"{img}-{i}",
                tag="1.0",
                target_image=target_image,
                target_tag="shared",
            )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(digests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [201] + [403] * (len(digests) - 1), [r.text for r in results.values()]
    winner = next(i for i, r in results.items() if r.status_code == 201)
    tagged = manifest(ci, f"test/{target_image}", "shared")
    assert tagged.headers["Docker-Content-Digest"] == digests[winner]

    # the same tag promoted by many at once: all succeed, one tag, one digest
    same: list[int] = []

    def again() -> None:
        with env.client("ci") as c:
            r = promote(c, source="dev", target="test", image=f"{img}-0", tag="1.0")
            same.append(r.status_code)

    threads = [threading.Thread(target=again) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert same == [201] * 5
    assert manifest(ci, f"test/{img}-0", "1.0").headers["Docker-Content-Digest"] == digests[0]


def test_an_incomplete_source_promotes_nothing(admin: httpx.Client) -> None:
    img = unique()
    present = image(admin, f"sparse/{img}", "child")
    absent = sha256(b"a manifest nobody pushed")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": present[1], "size": len(present[0])},
            {"mediaType": OCI_MANIFEST, "digest": absent, "size": 10},
        ],
    }
    push(admin, f"sparse/{img}", "1.0", index)
    r = promote(admin, source="sparse", target="dev", image=img, tag="1.0")
    assert r.status_code == 409, r.text
    assert absent in r.json()["message"]
    assert manifest(admin, f"dev/{img}", present[1]).status_code == 404
    assert admin.get(f"/v2/dev/{img}/tags/list").status_code == 404
    layer = json.loads(present[0])["layers"][0]["digest"]
    assert admin.head(f"/v2/dev/{img}/blobs/{layer}").status_code == 404


def test_unknown_source_and_bad_requests(admin: httpx.Client, ci: httpx.Client) -> None:
    img = unique()
    r = promote(ci, source="dev", target="test", image=img, tag="nope")
    assert r.status_code == 404
    r = promote(ci, source="dev", target="test", image=img)
    assert r.status_code == 400
    r = promote(ci, source="dev", target="test", image=img, tag="1", digest="sha256:" + "0" * 64)
    assert r.status_code == 404  # tag and digest together: the tag must exist (and name it)
    r = promote(ci, source="dev", target="test", image=img, tag="1", digest="sha256:" + "0" * 6)
    assert r.status_code == 400
    r = promote(ci, source="dev", target="test", image=img, tag="1", mode="teleport")
    assert r.status_code == 422
    r = promote(ci, source="dev", target="nowhere", image=img, tag="1")
    assert r.status_code == 404
    r = promote(
        ci, source="dev", target="test", image=img, tag="1", properties={"tidegate.x": ["y"]}
    )
    assert r.status_code == 403


# ---------------------------------------------------------------------------- properties
def test_push_sets_system_properties(dave: httpx.Client, tess: httpx.Client) -> None:
    img = unique()
    _, digest = image(dave, f"dev/{img}", "1.0")
    r = props(tess, "dev", img, "1.0")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["repo"], body["image"], body["digest"]) == ("dev", img, digest)
    assert body["properties"]["tidegate.pushed_by"] == ["dave"]
    assert body["properties"]["tidegate.pushed_at"][0].endswith("Z")
    assert props(tess, "dev", img, digest).json() == body


def test_property_values_limits_and_changes(dave: httpx.Client, tess: httpx.Client) -> None:
    img = unique()
    _, digest = image(dave, f"dev/{img}", "1.0")
    params = {"repo": "dev", "image": img, "reference": "1.0"}
    odd = ["a,b;c=d", "x\\,y\\;z", "✓ grün 日本語 🚢", "k=v!=w", ""]
    r = dave.put("/api/v1/properties", params=params, json={"odd": odd, "max": ["x" * 4096]})
    assert r.status_code == 200, r.text
    assert props(dave, "dev", img, digest).json()["properties"]["odd"] == odd
    assert (
        dave.put("/api/v1/properties", params=params, json={"k": ["é" * 2048]}).status_code == 200
    )

    for bad, status in (
        ({"k": ["x" * 4097]}, 400),
        ({"k": ["é" * 2049]}, 400),
        ({"k": [str(i) for i in range(101)]}, 400),
        ({f"k{j}": [f"{j}-{i}" for i in range(100)] for j in range(11)}, 400),
        ({"Bad Key": ["x"]}, 400),
        ({"tidegate.pushed_by": ["mallory"]}, 403),
        ({"k": "not a list"}, 422),
        ({"k": [1]}, 422),
    ):
        r = dave.put("/api/v1/properties", params=params, json=bad)
        assert r.status_code == status, (list(bad)[:2], r.text)
    current = props(dave, "dev", img, "1.0").json()["properties"]
    assert current["k"] == ["é" * 2048]  # refused changes changed nothing
    assert current["tidegate.pushed_by"] == ["dave"]

    ok = {"k": [str(i) for i in range(100)]}
    assert dave.put("/api/v1/properties", params=params, json=ok).status_code == 200
    r = dave.patch("/api/v1/properties", params=params, json={"k": None, "a": ["1"], "b": ["2"]})
    assert r.status_code == 200, r.text
    assert {k: v for k, v in r.json()["properties"].items() if not k.startswith("tidegate.")} == {
        "a": ["1"],
        "b": ["2"],
    }
    r = dave.delete("/api/v1/properties", params={**params, "key": "a"})
    assert set(r.json()["properties"]) == {"b", "tidegate.pushed_at", "tidegate.pushed_by"}
    r = dave.delete("/api/v1/properties", params=params)
    assert set(r.json()["properties"]) == {"tidegate.pushed_at", "tidegate.pushed_by"}
    r = dave.patch("/api/v1/properties", params=params, json={"tidegate.pushed_by": None})
    assert r.status_code == 403

    # testers read dev but may not annotate there; a user without read sees nothing
    assert tess.put("/api/v1/properties", params=params, json={"a": ["1"]}).status_code == 403
    assert props(tess, "dev", img, "1.0").status_code == 200
    assert props(dave, "prod", img, "1.0").status_code == 403
    assert props(dave, "dev", img, "no-such-tag").status_code == 404
    assert props(dave, "nowhere", img, "1.0").status_code == 404


def test_values_added_at_the_same_moment_are_all_kept(
    dave: httpx.Client, tess: httpx.Client
) -> None:
    """``POST /api/v1/properties/values`` adds to a key's values in one locked transaction:
    ten sign-offs posted at once all stay (a read-then-PATCH would lose some); the limits and
    permissions of ``PUT`` apply."""
    from concurrent.futures import ThreadPoolExecutor

    img = unique()
    image(dave, f"dev/{img}", "1.0")
    params = {"repo": "dev", "image": img, "reference": "1.0"}
    first = dave.post("/api/v1/properties/values", params=params, json={"qa.signoff": ["p0"]})
    assert first.status_code == 200, first.text

    def add(i: int) -> int:
        body = {"qa.signoff": [f"p{i}"], "qa.runs": [f"run-{i}"]}
        return dave.post("/api/v1/properties/values", params=params, json=body).status_code

    with ThreadPoolExecutor(10) as pool:
        assert set(pool.map(add, range(1, 11))) == {200}
    current = props(dave, "dev", img, "1.0").json()["properties"]
    assert sorted(current["qa.signoff"]) == sorted(f"p{i}" for i in range(11))
    assert sorted(current["qa.runs"]) == sorted(f"run-{i}" for i in range(1, 11))
    again = dave.post("/api/v1/properties/values", params=params, json={"qa.signoff": ["p0"]})
    assert again.json()["properties"]["qa.signoff"].count("p0") == 1  # a value is kept once

    many = {"qa.signoff": [f"x{i}" for i in range(90)]}  # 11 + 90 > 100 values per key
    too_many = dave.post("/api/v1/properties/values", params=params, json=many)
    assert too_many.status_code == 400, too_many.text
    system = {"tidegate.pushed_by": ["mallory"]}
    assert dave.post("/api/v1/properties/values", params=params, json=system).status_code == 403
    refused = tess.post("/api/v1/properties/values", params=params, json={"a": ["1"]})
    assert refused.status_code == 403  # testers may not annotate in dev
    assert len(props(dave, "dev", img, "1.0").json()["properties"]["qa.signoff"]) == 11


# ---------------------------------------------------------------------------- gates API
def test_gate_api(admin: httpx.Client, olga: httpx.Client, ci: httpx.Client) -> None:
    repos = {r["key"]: r for r in ci.get("/api/v1/repositories").json()}
    assert {"dev", "test", "prod"} <= set(repos)
    assert repos["prod"]["stage"] == "prod"
    assert ci.get("/api/v1/repositories/prod").json()["options"]["immutable_tags"] is True
    assert ci.get("/api/v1/repositories/nowhere").status_code == 404
    gate = {"from": ["test"], "require": ["qa.automated=passed", "qa.uat=passed"]}
    assert ci.get("/api/v1/repositories/prod/gate").json() == gate

    stricter = {"from": ["test", "stage:test"], "require": [*gate["require"], "!blocked"]}
    assert ci.put("/api/v1/repositories/prod/gate", json=stricter).status_code == 403
    r = olga.put("/api/v1/repositories/prod/gate", json=stricter)
    assert r.status_code == 200, r.text
    assert olga.get("/api/v1/repositories/prod/gate").json() == stricter
    for bad, status in (
        ({"from": ["nowhere"]}, 400),
        ({"require": ["Bad=1"]}, 400),
        ({"require": "qa=passed"}, 422),
        ({"allow": []}, 422),
    ):
        assert olga.put("/api/v1/repositories/prod/gate", json=bad).status_code == status, bad
    assert olga.put("/api/v1/repositories/prod/gate", json=gate).status_code == 200
    assert olga.get("/api/v1/repositories/prod/gate").json() == gate
    audit = admin.get("/api/v1/audit", params={"action": "repository.gate_updated"}).json()
    assert audit and audit[0]["actor"] == "olga"


# ---------------------------------------------------------------------------- gate preview
def preview(c: httpx.Client, source: str, img: str, ref: str, target: str) -> httpx.Response:
    params = {"source": source, "image": img, "reference": ref, "target": target}
    return c.get("/api/v1/promotions/preview", params=params)


def test_gate_preview_needs_only_read_and_changes_nothing(
    ci: httpx.Client, dave: httpx.Client, tess: httpx.Client, olga: httpx.Client
) -> None:
    img = unique()
    _, digest = image(dave, f"dev/{img}", "1.0")
    assert promote(ci, source="dev", target="test", image=img, tag="1.0").status_code == 201
    assert patch(ci, "test", img, "1.0", {"qa.automated": ["passed"]}).status_code == 200

    # tess may not promote to prod, yet sees what the prod gate still misses
    r = preview(tess, "test", img, "1.0", "prod")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["digest"] == digest and body["target"] == "prod"
    checks = {c["condition"]: c["passed"] for c in body["evaluation"]["checks"]}
    assert checks == {"from": True, "qa.automated=passed": True, "qa.uat=passed": False}
    assert body["evaluation"]["passed"] is False
    assert patch(tess, "test", img, "1.0", {"qa.uat": ["passed"]}).status_code == 200
    assert preview(tess, "test", img, digest, "prod").json()["evaluation"]["passed"] is True
    # the wrong source fails the "from" rule; nothing was recorded by any preview
    from_dev = preview(dave, "dev", img, "1.0", "prod").json()["evaluation"]
    assert from_dev["checks"][0] == {
        "condition": "from",
        "passed": False,
        "reason": "dev is not an allowed source (allowed: test)",
    }
    lineage = olga.get("/api/v1/promotions", params={"digest": digest}).json()
    assert [(p["source"], p["target"]) for p in lineage] == [("dev", "test")]

    # dave cannot read prod: no preview of a prod image; unknown names are 404, bad refs 400
    assert preview(dave, "prod", img, "1.0", "test").status_code == 403
    assert preview(dave, "dev", img, "no-such-tag", "test").status_code == 404
    assert preview(dave, "nowhere", img, "1.0", "test").status_code == 404
    assert preview(dave, "dev", img, "1.0", "nowhere").status_code == 404
    assert preview(dave, "dev", img, "sha256:zz", "test").status_code == 400


# ---------------------------------------------------------------------------- CLI
def cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    clean.update(
        TIDEGATE_URL=env.server.url,
        TIDEGATE_USERNAME="ci-bot",
        TIDEGATE_TOKEN=env.ci_token,
        COLUMNS="200",
    )
    return subprocess.run(
        [TIDEGATE, *args], capture_output=True, text=True, env=clean, timeout=60, check=False
    )


def test_cli_promote_props_and_gate(env: Env, dave: httpx.Client) -> None:
    img = unique()
    _, digest = image(dave, f"dev/{img}", "1.0")
    run = cli(
        env, "promote", f"dev/{img}:1.0", "--to", "test", "--prop", "qa.ticket=QA-12", "--json"
    )
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert (record["outcome"], record["digest"], record["properties"]) == (
        "promoted",
        digest,
        {"qa.ticket": ["QA-12"]},
    )

    run = cli(env, "promote", f"test/{img}:1.0", "--to", "prod", "--json")
    assert run.returncode == 7, run.stderr
    refusal = json.loads(run.stdout)
    assert refusal["code"] == "GATE_REFUSED"
    assert {f["condition"] for f in refusal["failed"]} == {"qa.automated=passed", "qa.uat=passed"}
    run = cli(env, "promote", f"test/{img}:1.0", "--to", "prod")
    assert run.returncode == 7
    assert "qa.uat=passed" in run.stderr

    run = cli(
        env, "props", "patch", f"test/{img}:1.0", "qa.automated=passed", "qa.uat=passed", "--json"
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["properties"]["qa.ticket"] == ["QA-12"]
    run = cli(
        env,
        "promote",
        f"test/{img}@{digest}",
        "--to",
        "prod",
        "--target-tag",
        "1.0",
        "--dry-run",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["dry_run"] is True
    run = cli(env, "promote", f"test/{img}:1.0", "--to", "prod")
    assert run.returncode == 0, run.stderr
    run = cli(env, "props", "get", f"prod/{img}:1.0", "--json")
    assert json.loads(run.stdout)["properties"]["tidegate.promoted_by"] == ["ci-bot"]
    run = cli(env, "props", "delete", f"test/{img}:1.0", "qa.ticket", "--json")
    assert "qa.ticket" not in json.loads(run.stdout)["properties"]
    for job in ("unit", "lint"):  # parallel jobs record theirs without replacing the other's
        run = cli(env, "props", "add", f"test/{img}:1.0", f"qa.jobs={job}", "--json")
        assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["properties"]["qa.jobs"] == ["unit", "lint"]
    run = cli(env, "gate", "get", "prod", "--json")
    assert json.loads(run.stdout)["from"] == ["test"]
    run = cli(env, "gate", "set", "prod", "--from", "dev")
    assert run.returncode == 3  # ci may not manage prod
    run = cli(env, "promote", "not-a-reference", "--to", "prod")
    assert run.returncode == 1

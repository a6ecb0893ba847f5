"""The repository model holds all three kinds, and every kind is served through the one seam
(services/content.py): local and virtual content here, remote content in test_remote.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.integration.conftest import error_code, image_manifest, push_manifest
from tests.support.server import tidegate_server

CONFIG = """
repositories:
  - {key: dev, kind: local, stage: dev}
  - {key: hub, kind: remote, upstream: "https://registry-1.docker.io"}
  - {key: docker, kind: virtual, members: [dev, hub], default_deploy: dev}
"""


def test_virtual_repositories_serve_their_members(tmp_path: Path) -> None:
    config = tmp_path / "tidegate.yaml"
    config.write_text(CONFIG)
    with tidegate_server(tmp_path / "data", config=config) as server, server.client() as c:
        body = image_manifest(c, "docker/app")  # blobs pushed through docker land in dev
        r = push_manifest(c, "docker/app", "1.0", body)
        assert r.status_code == 201, r.text
        assert r.headers["location"].startswith("/v2/docker/app/manifests/sha256:")
        assert c.get("/v2/dev/app/manifests/1.0").content == body
        assert c.get("/v2/docker/app/manifests/1.0").content == body  # dev answers before hub
        assert c.get("/v2/app/manifests/1.0").content == body  # default_repository: docker
        assert c.get("/v2/docker/app/tags/list").json() == {"name": "docker/app", "tags": ["1.0"]}
        assert c.get("/v2/_catalog").json() == {"repositories": ["dev/app", "docker/app"]}
        pushed = c.post("/v2/hub/app/blobs/uploads/")  # a remote takes no pushes
        assert pushed.status_code == 405 and error_code(pushed) == "UNSUPPORTED"
        kinds = {r["key"]: r["kind"] for r in c.get("/api/v1/repositories").json()}
        assert kinds == {"dev": "local", "hub": "remote", "docker": "virtual"}


def test_a_push_through_the_virtual_works_while_the_remote_member_is_unreachable(
    tmp_path: Path,
) -> None:
    """Docker Hub down must not stop R&D pushing through ``docker``: the "must I upload this
    layer?" HEAD answers 404 even though ``hub`` could not be asked, while a pull that only
    the remote could serve says why it failed."""
    config = tmp_path / "tidegate.yaml"
    config.write_text(CONFIG.replace("https://registry-1.docker.io", "http://127.0.0.1:1"))
    with tidegate_server(tmp_path / "data", config=config) as server, server.client() as c:
        layer = b"a layer nobody has pushed yet"
        digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        head = c.head(f"/v2/docker/shop/cart/blobs/{digest}")
        assert head.status_code == 404
        body = image_manifest(c, "docker/shop/cart", layer)
        assert push_manifest(c, "docker/shop/cart", "1.4.0", body).status_code == 201
        assert c.get("/v2/docker/shop/cart/manifests/1.4.0").content == body
        pulled = c.get("/v2/docker/library/alpine/manifests/3.20")
        assert pulled.status_code == 502 and error_code(pulled) == "UPSTREAM_UNAVAILABLE"
        assert "upstream registry 127.0.0.1 is unavailable" in pulled.json()["errors"][0]["message"]


def test_a_quota_or_ttl_past_its_bound_is_refused_by_name(tmp_path: Path) -> None:
    """A 400-digit quota used to be stored (or to overflow the size parser into a 500): a
    quota is at most 1 EiB, a TTL at most 10 years, in the API as in the config file."""
    config = tmp_path / "tidegate.yaml"
    config.write_text(CONFIG)
    huge = int("9" * 400)
    with tidegate_server(tmp_path / "data", config=config) as server, server.client() as c:
        for quota in (huge, "9" * 400, 2**60 + 1, "2EiB", "1048577TiB"):
            r = c.patch("/api/v1/repositories/dev", json={"quota": quota})
            assert r.status_code == 400, (quota, r.text)
            assert r.json()["code"] == "INVALID_REQUEST"
            assert "quota" in r.json()["message"]
        big = {"key": "big", "kind": "local", "quota": huge}
        created = c.post("/api/v1/repositories", json=big)
        assert created.status_code == 400 and "quota" in created.json()["message"]
        ttl = c.patch("/api/v1/repositories/hub", json={"tag_ttl": huge})
        assert ttl.status_code == 400 and "tag_ttl" in ttl.json()["message"]
        assert c.patch("/api/v1/repositories/dev", json={"quota": "1EiB"}).status_code == 400
        ok = c.patch("/api/v1/repositories/dev", json={"quota": 2**60})
        assert ok.status_code == 200, ok.text
        assert c.get("/api/v1/repositories/dev").json()["options"]["quota"] == 2**60

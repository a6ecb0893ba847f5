"""The repository model holds all three kinds; this version serves local and remote ones and
says so for the others."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import error_code
from tests.support.server import tidegate_server

CONFIG = """
repositories:
  - {key: dev, kind: local, stage: dev}
  - {key: hub, kind: remote, upstream: "https://registry-1.docker.io"}
  - {key: docker, kind: virtual, members: [dev, hub], default_deploy: dev}
"""


def test_remote_and_virtual_repositories_answer_unsupported(tmp_path: Path) -> None:
    config = tmp_path / "tidegate.yaml"
    config.write_text(CONFIG)
    with tidegate_server(tmp_path / "data", config=config) as server, server.client() as c:
        # a remote is served (tests/integration/test_remote.py) and refuses writes
        pushed = c.post("/v2/hub/app/blobs/uploads/")
        assert pushed.status_code == 405 and error_code(pushed) == "UNSUPPORTED"
        assert "'hub' is a remote repository" in pushed.json()["errors"][0]["message"]
        for key, kind in (("docker", "virtual"),):
            r = c.get(f"/v2/{key}/library/alpine/manifests/3.20")
            assert r.status_code == 405
            assert error_code(r) == "UNSUPPORTED"
            assert f"a {kind} repository" in r.json()["errors"][0]["message"]
            assert c.post(f"/v2/{key}/app/blobs/uploads/").status_code == 405
        routed = c.get("/v2/nope/app/tags/list")  # default_repository: docker
        assert "'docker' is a virtual repository" in routed.json()["errors"][0]["message"]
        assert c.get("/v2/_catalog").json() == {"repositories": []}

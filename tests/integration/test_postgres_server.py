"""``tidegate serve`` on a real PostgreSQL server: the same push and pull as on SQLite."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import image_manifest, push_manifest, sha256
from tests.support.server import tidegate_server


def test_serve_with_a_postgresql_database_url(tmp_path: Path, postgres_url: str) -> None:
    env = {"TIDEGATE_DATABASE_URL": postgres_url}
    name = "dev/pg/app"
    data = tmp_path / "data"
    with (
        tidegate_server(data, env=env, password="pg-password") as server,
        server.client() as client,
    ):
        body = image_manifest(client, name)
        assert push_manifest(client, name, "1.0", body).status_code == 201
    assert not (data / "tidegate.db").exists()  # nothing went to SQLite
    # A restart finds everything in PostgreSQL.
    with (
        tidegate_server(data, env=env, password="pg-password") as server,
        server.client() as client,
    ):
        got = client.get(f"/v2/{name}/manifests/1.0")
        assert got.status_code == 200
        assert got.headers["docker-content-digest"] == sha256(body)
        # the default install's docker virtual lists dev's images too
        assert client.get("/v2/_catalog").json()["repositories"] == [
            name,
            name.replace("dev/", "docker/", 1),
        ]

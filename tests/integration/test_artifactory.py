"""The Artifactory-compatible subset (docs/promotion.md) as a Jenkins pipeline drives it:
storage properties with Artifactory's syntax, and the Docker promote endpoint (a move unless
``copy`` is true), under the same gates and permissions as ``/api/v1``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import OCI_MANIFEST, image_manifest
from tests.support.server import RunningServer, tidegate_server

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with tidegate_server(tmp_path_factory.mktemp("artifactory") / "data") as running:
        with running.client() as admin:
            r = admin.post(
                "/api/v1/users",
                json={"username": "tess", "password": PASSWORD, "groups": ["testers"]},
            )
            assert r.status_code == 201, r.text
        yield running


@pytest.fixture
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture
def image(admin: httpx.Client) -> tuple[str, bytes]:
    name = f"jenkins/app-{uuid.uuid4().hex[:8]}"
    manifest = image_manifest(admin, f"dev/{name}", layer=uuid.uuid4().bytes)
    r = admin.put(
        f"/v2/dev/{name}/manifests/1.0", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    return name, manifest


def test_storage_properties_set_read_and_delete(
    admin: httpx.Client, image: tuple[str, bytes]
) -> None:
    name, _ = image
    url = f"/artifactory/api/storage/dev/{name}/1.0"

    r = admin.put(url, params={"properties": "qa.automated=passed;qa.report=http://ci/r\\;1,b"})
    assert r.status_code == 204, r.text

    got = admin.get(url, params={"properties": ""}).json()
    assert got["properties"]["qa.automated"] == ["passed"]
    assert got["properties"]["qa.report"] == ["http://ci/r;1", "b"]
    assert got["uri"].endswith(f"/dev/{name}/1.0")
    only = admin.get(url, params={"properties": "qa.automated"}).json()
    assert set(only["properties"]) == {"qa.automated"}
    # the same properties through /api/v1
    same = admin.get(
        "/api/v1/properties", params={"repo": "dev", "image": name, "reference": "1.0"}
    ).json()
    assert same["properties"]["qa.report"] == ["http://ci/r;1", "b"]

    assert admin.delete(url, params={"properties": "qa.report"}).status_code == 204
    assert "qa.report" not in admin.get(url).json()["properties"]


def test_docker_promote_copies_or_moves_under_the_gate(
    server: RunningServer, admin: httpx.Client, image: tuple[str, bytes]
) -> None:
    name, manifest = image
    copied = admin.post(
        "/artifactory/api/docker/dev/v2/promote",
        json={"targetRepo": "test", "dockerRepository": name, "tag": "1.0", "copy": True},
    )
    assert copied.status_code == 200, copied.text
    assert copied.json()["messages"][0]["level"] == "INFO"
    assert admin.get(f"/v2/test/{name}/manifests/1.0").content == manifest
    assert admin.get(f"/v2/dev/{name}/manifests/1.0").status_code == 200  # copy: still there

    refused = admin.post(  # prod's gate wants qa.automated=passed and qa.uat=passed
        "/artifactory/api/docker/test/v2/promote",
        json={"targetRepo": "prod", "dockerRepository": name, "tag": "1.0", "copy": True},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "GATE_REFUSED"
    failed = {f["condition"] for f in refused.json()["detail"]["failed"]}
    assert failed == {"qa.automated=passed", "qa.uat=passed"}
    assert admin.get(f"/v2/prod/{name}/manifests/1.0").status_code == 404

    moved = admin.post(
        "/artifactory/api/docker/dev/v2/promote",
        json={
            "targetRepo": "test",
            "dockerRepository": name,
            "targetDockerRepository": f"{name}-rc",
            "tag": "1.0",
            "targetTag": "1.0-rc",
        },
    )
    assert moved.status_code == 200, moved.text
    assert admin.get(f"/v2/test/{name}-rc/manifests/1.0-rc").content == manifest
    assert admin.get(f"/v2/dev/{name}/manifests/1.0").status_code == 404  # moved away


def test_a_tester_may_not_promote_nor_annotate_dev(
    server: RunningServer, image: tuple[str, bytes]
) -> None:
    name, _ = image
    with httpx.Client(base_url=server.url, auth=("tess", PASSWORD), timeout=30) as tess:
        r = tess.post(
            "/artifactory/api/docker/dev/v2/promote",
            json={"targetRepo": "test", "dockerRepository": name, "tag": "1.0", "copy": True},
        )
        assert r.status_code == 403, r.text
        r = tess.put(
            f"/artifactory/api/storage/dev/{name}/1.0", params={"properties": "qa.uat=passed"}
        )
        assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("PUT", "/artifactory/api/storage/dev/onlyimage", {"params": {"properties": "a=b"}}),
        ("PUT", "/artifactory/api/storage/dev/x/1.0", {"params": {"properties": "novalue"}}),
        ("PUT", "/artifactory/api/storage/dev/x/1.0", {}),
        ("POST", "/artifactory/api/docker/dev/v2/promote", {"json": {"targetRepo": "test"}}),
        ("POST", "/artifactory/api/docker/dev/v2/promote", {"content": b"not json"}),
    ],
)
def test_malformed_calls_are_4xx_not_500(
    admin: httpx.Client, method: str, path: str, kwargs: dict[str, object]
) -> None:
    r = admin.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert 400 <= r.status_code < 500, r.text


def test_no_credentials_get_401(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}/artifactory/api/storage/dev/x/1.0")
    assert r.status_code == 401

"""Search (docs/promotion.md) through a real server: property conditions, globs, times,
pagination that neither repeats nor skips, and permission filtering (a caller never sees an
image it may not read), from the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import OCI_MANIFEST, image_manifest
from tests.support.server import RunningServer, tidegate_server

TIDEGATE = Path(sys.executable).with_name("tidegate")
PASSWORD = "a long enough password"
COUNT = 24


@dataclass
class Seeded:
    server: RunningServer
    prefix: str  # image names: <prefix>/app-NN


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with tidegate_server(tmp_path_factory.mktemp("search") / "data") as server:
        prefix = f"s{uuid.uuid4().hex[:6]}"
        with server.client() as admin:
            for i in range(COUNT):
                name = f"dev/{prefix}/app-{i:02d}"
                manifest = image_manifest(admin, name, layer=f"layer {i}".encode())
                for tag in ("1.0", "latest") if i % 3 == 0 else ("1.0",):
                    r = admin.put(
                        f"/v2/{name}/manifests/{tag}",
                        content=manifest,
                        headers={"Content-Type": OCI_MANIFEST},
                    )
                    assert r.status_code == 201, r.text
                props: dict[str, Any] = {"build": [str(i)]}
                if i % 2 == 0:
                    props["qa.automated"] = ["passed"]
                r = admin.put(
                    "/api/v1/properties",
                    params={"repo": "dev", "image": f"{prefix}/app-{i:02d}", "reference": "1.0"},
                    json=props,
                )
                assert r.status_code == 200, r.text
            # two of them reach test
            for i in (0, 1):
                r = admin.post(
                    "/api/v1/promotions",
                    json={
                        "source": "dev",
                        "target": "test",
                        "image": f"{prefix}/app-{i:02d}",
                        "tag": "1.0",
                    },
                )
                assert r.status_code == 201, r.text
            # a group that reads test only, and a user in it
            assert admin.post("/api/v1/groups", json={"name": "qa-only"}).status_code == 201
            r = admin.post(
                "/api/v1/permissions",
                json={"name": "qa-only", "repositories": ["test"], "groups": {"qa-only": ["read"]}},
            )
            assert r.status_code == 201, r.text
            r = admin.post(
                "/api/v1/users",
                json={"username": "quinn", "password": PASSWORD, "groups": ["qa-only"]},
            )
            assert r.status_code == 201, r.text
        yield Seeded(server, prefix)


def find(client: httpx.Client, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/search", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def names(body: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(i["repo"], i["image"], i["tag"]) for i in body["items"]]


@pytest.fixture
def admin(seeded: Seeded) -> Iterator[httpx.Client]:
    with seeded.server.client() as c:
        yield c


def test_property_conditions(seeded: Seeded, admin: httpx.Client) -> None:
    image = f"{seeded.prefix}/**"
    passed = find(admin, repo="dev", image=image, tag="1.0", prop="qa.automated=passed")
    assert [n[1] for n in names(passed)] == [
        f"{seeded.prefix}/app-{i:02d}" for i in range(0, COUNT, 2)
    ]
    assert all(i["properties"]["qa.automated"] == ["passed"] for i in passed["items"])
    assert all(i["properties"]["tidegate.pushed_by"] == ["admin"] for i in passed["items"])

    not_passed = find(admin, repo="dev", image=image, tag="1.0", prop="!qa.automated")
    assert len(not_passed["items"]) == COUNT // 2
    other = find(admin, repo="dev", image=image, tag="1.0", prop="qa.automated!=passed")
    assert names(other) == names(not_passed)
    both = find(admin, repo="dev", image=image, tag="1.0", prop=["qa.automated", "build=4"])
    assert [n[1] for n in names(both)] == [f"{seeded.prefix}/app-04"]


def test_image_and_tag_globs(seeded: Seeded, admin: httpx.Client) -> None:
    latest = find(admin, image=f"{seeded.prefix}/*", tag="lat*")
    assert [n[1] for n in names(latest)] == [
        f"{seeded.prefix}/app-{i:02d}" for i in range(0, COUNT, 3)
    ]
    ones = find(admin, repo="dev", image=f"{seeded.prefix}/app-1?", tag="1.0")
    assert len(ones["items"]) == 10
    assert find(admin, image=f"{seeded.prefix}", tag="*")["items"] == []  # whole-name match


def test_pages_neither_repeat_nor_skip(seeded: Seeded, admin: httpx.Client) -> None:
    everything = find(admin, image=f"{seeded.prefix}/**", limit=1000)
    assert everything["next"] is None
    seen: list[tuple[str, str, str | None]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"image": f"{seeded.prefix}/**", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = find(admin, **params)
        assert len(page["items"]) <= 7
        seen += names(page)
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == names(everything)
    assert len(seen) == len(set(seen)) == COUNT + COUNT // 3 + 2  # dev tags + 2 in test
    assert seen == sorted(seen, key=lambda n: (n[0], n[1], n[2] or ""))


def test_a_caller_sees_only_what_it_may_read(seeded: Seeded) -> None:
    with httpx.Client(base_url=seeded.server.url, auth=("quinn", PASSWORD), timeout=30) as quinn:
        mine = find(quinn, image=f"{seeded.prefix}/**")
        assert {n[0] for n in names(mine)} == {"test"}
        assert len(mine["items"]) == 2
        assert find(quinn, repo="dev", image=f"{seeded.prefix}/**")["items"] == []


def test_times(seeded: Seeded, admin: httpx.Client) -> None:
    future = "2999-01-01T00:00:00Z"
    assert find(admin, image=f"{seeded.prefix}/**", pushed_after=future)["items"] == []
    past = "2000-01-01T00:00:00Z"
    promoted = find(admin, image=f"{seeded.prefix}/**", promoted_after=past)
    assert {(n[0], n[1]) for n in names(promoted)} == {
        ("test", f"{seeded.prefix}/app-00"),
        ("test", f"{seeded.prefix}/app-01"),
    }


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"limit": 0},
        {"limit": 1001},
        {"repo": "nosuchrepo"},
        {"prop": "Bad Key=1"},
        {"pushed_after": "yesterday"},
    ],
)
def test_bad_queries_are_400_not_500(admin: httpx.Client, params: dict[str, Any]) -> None:
    r = admin.get("/api/v1/search", params=params)
    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] == "INVALID_REQUEST"


def test_the_cli_searches(seeded: Seeded, tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "TIDEGATE_URL": seeded.server.url,
        "TIDEGATE_USERNAME": "quinn",
        "TIDEGATE_TOKEN": PASSWORD,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [str(TIDEGATE), "search", "--image", f"{seeded.prefix}/**", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert {i["repo"] for i in body["items"]} == {"test"}

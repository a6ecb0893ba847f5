"""Operations: Prometheus metrics summed over the workers, the audit log queried and exported
(API and CLI), X-Forwarded-* honoured only from trusted proxies, request ids, readiness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.pushes import push_image, unique
from tests.support.server import RunningServer, tidegate_server

TIDEGATE = Path(sys.executable).with_name("tidegate")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_ROUTE = "/v2/{name}/manifests/{reference}"


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Two workers behind a (pretend) proxy on 127.0.0.1."""
    base = tmp_path_factory.mktemp("ops")
    config = base / "tidegate.yaml"
    config.write_text("workers: 2\ntrusted_proxies: [127.0.0.1/32]\n")
    with tidegate_server(base / "data", config=config) as running:
        yield running


def scrape(c: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by the Prometheus text parser."""
    r = c.get("/metrics")
    assert r.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_every_request_whichever_worker_served_it(ops: RunningServer) -> None:
    name = f"dev/{unique('metrics/app')}"
    with ops.client() as c:
        before = scrape(c)
        digest = image(c, name, "v1")
        pulls = 40  # two workers: some of these land on each (new connections each time)
        for _ in range(pulls):
            with ops.client() as fresh:
                r = fresh.get(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
                assert r.status_code == 200
        r = c.post(
            "/api/v1/promotions",
            json={"source": "dev", "target": "test", "image": name[4:], "tag": "v1"},
        )
        assert r.status_code == 201, r.text
        after = scrape(c)

    def delta(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    get = {"route": MANIFEST_ROUTE, "method": "GET", "status": "200"}
    assert delta("tidegate_http_requests_total", **get) == pulls
    put = {"route": MANIFEST_ROUTE, "method": "PUT", "status": "201"}
    assert delta("tidegate_http_requests_total", **put) == 1
    out = delta("tidegate_http_response_bytes_total", route=MANIFEST_ROUTE)
    assert out > 0 and out % pulls == 0  # the same manifest, pulls times
    assert delta("tidegate_http_request_bytes_total", route="/v2/{name}/blobs/uploads/") > 0
    assert delta("tidegate_uploads_completed_total", repository="dev") == 2
    assert delta("tidegate_promotions_total", target="test", outcome="promoted") == 1
    # families without labels are there from the start (labelled ones from their first sample)
    for family in ("tidegate_gc_blobs_deleted", "tidegate_gc_bytes_freed"):
        assert (f"{family}_total", ()) in after
    assert digest


def test_forwarded_headers_count_only_from_a_trusted_proxy(
    ops: RunningServer, server: RunningServer
) -> None:
    forwarded = {
        "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "registry.example.com",
    }
    for running, address, realm in (
        (ops, "203.0.113.9", "https://registry.example.com/auth/token"),
        (server, "127.0.0.1", f"http://{server.host}/auth/token"),
    ):
        user = f"nobody-{uuid.uuid4().hex[:6]}"
        r = httpx.get(f"{running.url}/v2/", auth=(user, "wrong password"), headers=forwarded)
        assert r.status_code == 401
        assert f'realm="{realm}"' in r.headers["WWW-Authenticate"]
        with running.client() as admin:
            found = admin.get("/api/v1/audit", params={"actor": user}).json()
        assert [e["address"] for e in found] == [address]


def test_the_audit_log_is_queried_by_time_actor_repository_and_action_and_exported(
    ops: RunningServer, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    name = unique("audit/app")
    with ops.client() as c:
        digest = image(c, f"dev/{name}", "v1")
        r = c.post("/api/v1/users", json={"username": f"u-{name[-8:]}", "password": "pw12345678"})
        assert r.status_code == 201
        pushed = c.get(
            "/api/v1/audit",
            params={"repo": f"dev/{name}", "action": "image.pushed", "since": start.isoformat()},
        ).json()
        assert [(e["actor"], e["target"], e["outcome"]) for e in pushed] == [
            ("admin", f"dev/{name}@{digest}", "ok")
        ]
        assert pushed[0]["address"] == "127.0.0.1" and pushed[0]["detail"]["tags"] == ["v1"]
        assert c.delete(f"/v2/dev/{name}/manifests/v1").status_code == 202
        deleted = c.get("/api/v1/audit", params={"repo": f"dev/{name}", "action": "tag"}).json()
        assert [(e["action"], e["target"]) for e in deleted] == [("tag.deleted", f"dev/{name}:v1")]
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert c.get("/api/v1/audit", params={"since": later}).json() == []
        r = c.get("/api/v1/audit", params={"since": later, "until": start.isoformat()})
        assert r.status_code == 400 and "until" in r.json()["message"]

        r = c.get("/api/v1/audit", params={"format": "jsonl", "since": start.isoformat()})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert [e["id"] for e in lines] == sorted(e["id"] for e in lines)  # oldest first
        actions = {e["action"] for e in lines}
        assert {"image.pushed", "user.created"} <= actions

    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    env.update(HOME=str(tmp_path), TIDEGATE_URL=ops.url, TIDEGATE_USERNAME="admin")
    env["TIDEGATE_TOKEN"] = ops.password
    done = subprocess.run(
        [str(TIDEGATE), "audit", "--jsonl", "--since", start.isoformat(), "--repo", f"dev/{name}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    exported = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["action"] for e in exported] == ["image.pushed", "tag.deleted"]  # oldest first
    table = subprocess.run(
        [str(TIDEGATE), "audit", "--action", "user", "--limit", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert table.returncode == 0 and "user.created" in table.stdout


def test_every_answer_carries_a_request_id_and_readiness_checks_the_database(
    ops: RunningServer,
) -> None:
    ids = {httpx.get(f"{ops.url}/v2/").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    r = httpx.get(f"{ops.url}/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def image(c: httpx.Client, name: str, ref: str) -> str:
    """Push a one-layer image; its digest."""
    return push_image(c, name, ref)[1]

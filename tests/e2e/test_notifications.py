"""PRODUCT.md §10 scenarios 1 and 2 with a real client: a developer pushes with skopeo through
the virtual address `docker` (it lands in `dev`); CI promotes it to `test`; a signed webhook and
an email to the testers tell of it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.receivers import Mailbox, smtp_server, webhook_receiver

from ._clients import Skopeo
from ._images import Corpus
from ._servers import free_port, spawn, tidegate_executable, wait_until

pytestmark = pytest.mark.e2e

PASSWORD = "a long enough password"
SECRET = "testers-hook-signing-secret"


@dataclass
class Server:
    host: str
    admin: tuple[str, str]
    mailbox: Mailbox

    def client(self, auth: tuple[str, str]) -> httpx.Client:
        return httpx.Client(base_url=f"http://{self.host}", auth=auth, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("notify")
    with smtp_server() as mailbox:
        config = work / "tidegate.yaml"
        config.write_text(
            "events: {poll_interval: 0.2, backoff: 0.5, backoff_max: 2}\n"
            f"smtp: {{host: 127.0.0.1, port: {mailbox.port}, from: registry@example.com}}\n"
        )
        port = free_port()
        password = secrets.token_urlsafe(18)
        env = {
            "TIDEGATE_DATA": str(work / "data"),
            "TIDEGATE_LISTEN": f"127.0.0.1:{port}",
            "TIDEGATE_ADMIN_PASSWORD": password,
        }
        argv: list[str | Path] = [tidegate_executable(), "serve", "--config", config]
        daemon = spawn("tidegate", argv, work / "tidegate.log", env)
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            wait_until(daemon, lambda: httpx.get(url).status_code == 200, 30, f"GET {url}")
            yield Server(f"127.0.0.1:{port}", ("admin", password), mailbox)
        finally:
            daemon.stop()


def test_scenario_2_a_promotion_to_test_notifies_the_testers(
    server: Server, skopeo: Skopeo, corpus: Corpus, tmp_path: Path
) -> None:
    with server.client(server.admin) as admin:
        for user, group, email in (
            ("dave", "developers", None),
            ("tess", "testers", "tess@example.com"),
        ):
            body = {"username": user, "password": PASSWORD, "groups": [group]}
            if email:
                body["email"] = email
            assert admin.post("/api/v1/users", json=body).status_code == 201
        assert (
            admin.post(
                "/api/v1/service-accounts", json={"name": "ci-bot", "groups": ["ci"]}
            ).status_code
            == 201
        )
        token = admin.post(
            "/api/v1/tokens", json={"name": "pipeline", "principal": "ci-bot"}
        ).json()["token"]
        r = admin.post(
            "/api/v1/notifications",
            json={"group": "testers", "events": ["image.promoted"], "repositories": ["test"]},
        )
        assert r.status_code == 201, r.text

        with webhook_receiver() as receiver:
            r = admin.post(
                "/api/v1/webhooks",
                json={
                    "url": receiver.url,
                    "events": ["image.promoted"],
                    "repositories": ["test"],
                    "secret": SECRET,
                },
            )
            assert r.status_code == 201, r.text

            # 1. the developer pushes through the virtual address; it lands in dev
            skopeo(
                "copy", "--preserve-digests", "--dest-tls-verify=false",
                "--dest-creds", f"dave:{PASSWORD}", corpus.oci("app"),
                f"docker://{server.host}/docker/shop/cart:1.4.0",
            )  # fmt: skip
            # 2. CI promotes it to test
            with server.client(("ci-bot", token)) as ci:
                r = ci.post(
                    "/api/v1/promotions",
                    json={"source": "dev", "target": "test", "image": "shop/cart", "tag": "1.4.0"},
                )
                assert r.status_code == 201, r.text

            receiver.wait_for(1)
            delivered = receiver.received[0]
            digest = hmac.new(SECRET.encode(), delivered.body, hashlib.sha256).hexdigest()
            assert delivered.headers["X-Tidegate-Signature"] == f"sha256={digest}"
            event = json.loads(delivered.body)
            assert event["type"] == "io.tidegate.image.promoted"
            assert event["subject"] == "test/shop/cart:1.4.0"
            assert event["data"]["digest"] == corpus.app.digest
            assert event["data"]["actor"] == "ci-bot"

    server.mailbox.wait_for(1)
    recipients, message = server.mailbox.messages[0]
    assert recipients == ["tess@example.com"]
    assert str(message["Subject"]) == "[tidegate] image.promoted: test/shop/cart:1.4.0"

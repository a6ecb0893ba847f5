"""Events out of the registry: signed webhooks, email to a group, retries, redelivery, and
pushes that never wait for a receiver (PRODUCT.md §7, §10 scenario 2; docs/events.md).

Receivers are real: an HTTP server on loopback and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.postgres import database_for
from tests.support.pushes import push_image, unique
from tests.support.receivers import (
    Mailbox,
    WebhookReceiver,
    smtp_server,
    until,
    webhook_receiver,
)
from tests.support.server import RunningServer, free_port, tidegate_server

TIDEGATE = Path(sys.executable).with_name("tidegate")
PASSWORD = "a long enough password"
SECRET = "s3cret-signing-key-for-tests"
PUBLIC_URL = "https://registry.example.com"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Env:
    server: RunningServer
    mailbox: Mailbox
    ci_token: str

    def client(self, who: str) -> httpx.Client:
        if who == "admin":
            return self.server.client()
        auth = ("ci-bot", self.ci_token) if who == "ci" else (who, PASSWORD)
        return httpx.Client(base_url=self.server.url, auth=auth, timeout=60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_for(request, tmp_path_factory, "events")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Env]:
    """Two server processes (workers): each runs a delivery worker; they share the work."""
    base = tmp_path_factory.mktemp("events")
    with smtp_server() as mailbox:
        config = base / "tidegate.yaml"
        config.write_text(
            "workers: 2\n"
            f"database_url: {database_url}\n"
            f"public_url: {PUBLIC_URL}\n"
            "events: {backoff: 0.2, backoff_max: 1, poll_interval: 0.1, max_attempts: 30,"
            " timeout: 60}\n"
            f"smtp: {{host: 127.0.0.1, port: {mailbox.port}, from: tidegate@example.com}}\n"
        )
        with tidegate_server(base / "data", config=config) as running, running.client() as admin:
            for user, group, email in (
                ("dave", "developers", "dave@example.com"),
                ("tess", "testers", "tess@example.com"),
                ("tom", "testers", "tom@example.com"),
                ("tia", "testers", None),  # no address: not mailed
            ):
                body: dict[str, Any] = {"username": user, "password": PASSWORD, "groups": [group]}
                if email:
                    body["email"] = email
                r = admin.post("/api/v1/users", json=body)
                assert r.status_code == 201, r.text
            r = admin.post("/api/v1/service-accounts", json={"name": "ci-bot", "groups": ["ci"]})
            assert r.status_code == 201, r.text
            r = admin.post("/api/v1/tokens", json={"name": "pipeline", "principal": "ci-bot"})
            assert r.status_code == 201, r.text
            yield Env(running, mailbox, r.json()["token"])


@pytest.fixture
def admin(env: Env) -> Iterator[httpx.Client]:
    with env.client("admin") as c:
        yield c


def hook(admin: httpx.Client, url: str, events: list[str], repos: list[str]) -> dict[str, Any]:
    body = {"url": url, "events": events, "repositories": repos, "secret": SECRET}
    r = admin.post("/api/v1/webhooks", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def deliveries(admin: httpx.Client, webhook_id: int) -> list[dict[str, Any]]:
    r = admin.get(f"/api/v1/webhooks/{webhook_id}/deliveries")
    assert r.status_code == 200, r.text
    return list(r.json())


def settled(admin: httpx.Client, webhook_id: int, count: int = 1) -> list[dict[str, Any]]:
    """The webhook's deliveries once ``count`` of them are no longer pending."""
    found: list[dict[str, Any]] = []

    def done() -> bool:
        found[:] = [d for d in deliveries(admin, webhook_id) if d["state"] != "pending"]
        return len(found) >= count

    until(done, f"{count} settled deliveries")
    return found


def cloud_events(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received]


def signed(received: Any) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    return bool(received.headers.get("X-Tidegate-Signature") == expected)


def test_scenario_2_promotion_into_test_notifies_the_testers(env: Env, admin: httpx.Client) -> None:
    """PRODUCT.md §10 scenario 2: CI promotes dev -> test; a signed webhook and an email to
    the testers (those with an address) tell of it, with the gate's evaluation."""
    name = unique("shop/cart")
    r = admin.post(
        "/api/v1/notifications",
        json={"group": "testers", "events": ["image.promoted"], "repositories": ["test"]},
    )
    assert r.status_code == 201, r.text
    notification = r.json()
    with webhook_receiver() as receiver:
        webhook = hook(admin, receiver.url, ["image.promoted"], ["test"])
        assert webhook["secret_set"] is True and "secret" not in webhook
        with env.client("dave") as dave:
            digest = image(dave, f"dev/{name}", "1.4.0")
        with env.client("ci") as ci:
            r = ci.post(
                "/api/v1/promotions",
                json={"source": "dev", "target": "test", "image": name, "tag": "1.4.0"},
            )
            assert r.status_code == 201, r.text

        receiver.wait_for(1)
        (event,) = [e for e in cloud_events(receiver) if e["subject"] == f"test/{name}:1.4.0"]
        assert signed(receiver.received[0])
        assert receiver.received[0].headers["X-Tidegate-Delivery"]
        assert event["specversion"] == "1.0"
        assert event["type"] == "io.tidegate.image.promoted"
        assert event["source"] == PUBLIC_URL
        data = event["data"]
        assert (data["repository"], data["image"], data["tag"]) == ("test", name, "1.4.0")
        assert data["digest"] == digest and data["actor"] == "ci-bot"
        assert data["source"] == f"dev/{name}" and data["evaluation"]["passed"] is True

        env.mailbox.wait_for(1)
        mails = [
            (to, m) for to, m in env.mailbox.messages if f"test/{name}:1.4.0" in str(m["Subject"])
        ]
        assert len(mails) == 1
        recipients, message = mails[0]
        assert sorted(recipients) == ["tess@example.com", "tom@example.com"]
        assert "image.promoted" in str(message["Subject"])
        assert digest in message.get_payload(decode=True).decode()  # type: ignore[union-attr]

        (delivery,) = settled(admin, webhook["id"])
        assert delivery["state"] == "succeeded" and delivery["response_code"] == 204
        assert delivery["duration_ms"] >= 0 and delivery["attempts"] == 1
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")
    admin.delete(f"/api/v1/notifications/{notification['id']}")


def test_email_goes_only_to_members_who_may_read_the_image(env: Env, admin: httpx.Client) -> None:
    """A notification for the developers on prod: dave (a developer, no read on prod) gets no
    mail; a developer who is also a tester (read on prod) does."""
    r = admin.post(
        "/api/v1/users",
        json={
            "username": "tara",
            "password": PASSWORD,
            "groups": ["developers", "testers"],
            "email": "tara@example.com",
        },
    )
    assert r.status_code == 201, r.text
    time.sleep(1.5)  # PostgreSQL: every worker's identity snapshot knows tara (rechecked at 1 s)
    r = admin.post(
        "/api/v1/notifications",
        json={"group": "developers", "events": ["image.promoted"], "repositories": ["prod"]},
    )
    assert r.status_code == 201, r.text
    notification = r.json()
    name = unique("secret/app")
    digest = image(admin, f"dev/{name}", "1.0")
    for source, target in (("dev", "test"), ("test", "prod")):
        body = {"source": source, "target": target, "image": name, "tag": "1.0"}
        r = admin.post("/api/v1/promotions", json=body)
        assert r.status_code == 201, r.text
        if target == "test":  # the evidence the prod gate asks for
            evidence = {"qa.automated": ["passed"], "qa.uat": ["passed"]}
            params = {"repo": "test", "image": name, "reference": "1.0"}
            assert admin.patch("/api/v1/properties", params=params, json=evidence).is_success

    def mails() -> list[list[str]]:
        return [to for to, m in env.mailbox.messages if f"prod/{name}" in str(m["Subject"])]

    until(lambda: bool(mails()), "the mail of the prod push")
    assert mails() == [["tara@example.com"]]
    for to, message in env.mailbox.messages:
        if "dave@example.com" in to:
            assert digest not in message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    admin.delete(f"/api/v1/notifications/{notification['id']}")
    admin.delete("/api/v1/users/tara")


def test_subscriptions_on_a_virtual_repository_are_refused(admin: httpx.Client) -> None:
    """Events name the local or remote repository; a virtual one would never fire."""
    body = {"url": "http://127.0.0.1:9/x", "events": ["*"], "secret": SECRET}
    r = admin.post("/api/v1/webhooks", json={**body, "repositories": ["docker"]})
    assert r.status_code == 400, r.text
    assert "virtual" in r.json()["message"] and "dev" in r.json()["message"]
    r = admin.post(
        "/api/v1/notifications",
        json={"group": "testers", "events": ["*"], "repositories": ["release"]},
    )
    assert r.status_code == 400 and "prod" in r.json()["message"]


def test_a_receiver_that_is_down_gets_the_event_once_it_is_back(
    env: Env, admin: httpx.Client
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    webhook = hook(admin, url, ["image.pushed"], ["dev"])
    name = unique("down/app")
    digest = image(admin, f"dev/{name}", "v1")

    def failed_twice() -> bool:
        found = deliveries(admin, webhook["id"])
        return bool(found) and len(found[0]["attempt_log"]) >= 2

    until(failed_twice, "two failed attempts")
    with webhook_receiver(port=port) as receiver:
        receiver.wait_for(1)
        (delivery,) = settled(admin, webhook["id"])
    assert delivery["state"] == "succeeded"
    log = delivery["attempt_log"]
    assert [a["outcome"] for a in log[:-1]] == ["failed"] * (len(log) - 1)
    assert log[-1]["outcome"] == "succeeded" and log[-1]["response_code"] == 204
    assert all(a["response_code"] is None and a["error"] for a in log[:-1])
    assert cloud_events(receiver)[0]["data"]["digest"] == digest
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")


def test_a_failing_receiver_is_retried_and_a_delivery_can_be_sent_again(
    env: Env, admin: httpx.Client
) -> None:
    with webhook_receiver(fail_first=2) as receiver:
        webhook = hook(admin, receiver.url, ["image.pushed", "tag.moved"], ["dev"])
        name = unique("retry/app")
        image(admin, f"dev/{name}", "v1")
        receiver.wait_for(3)
        (delivery,) = settled(admin, webhook["id"])
        assert [a["response_code"] for a in delivery["attempt_log"]] == [503, 503, 204]
        first = receiver.received[-1]

        r = admin.post(f"/api/v1/webhooks/{webhook['id']}/deliveries/{delivery['id']}/redeliver")
        assert r.status_code == 202, r.text
        receiver.wait_for(4)
        again = receiver.received[3]
        assert again.body == first.body and signed(again)
        assert again.headers["X-Tidegate-Delivery"] == str(delivery["id"])

        def redelivered() -> bool:
            log = deliveries(admin, webhook["id"])[0]["attempt_log"]
            return len(log) == 4 and log[-1]["redelivery"] is True

        until(redelivered, "the redelivery recorded")

        # moving the tag is its own event, besides the push of the new digest
        image(admin, f"dev/{name}", "v1")
        receiver.wait_for(6)
        types = sorted(e["type"] for e in cloud_events(receiver)[4:])
        assert types == ["io.tidegate.image.pushed", "io.tidegate.tag.moved"]
        r = admin.post(f"/api/v1/webhooks/{webhook['id']}/deliveries/999999/redeliver")
        assert r.status_code == 404
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")


def test_a_slow_receiver_never_holds_up_pushes_or_promotions(env: Env, admin: httpx.Client) -> None:
    """The receiver holds every request until released; pushes and a promotion complete while
    it is still holding (asserted by order of events, not by timing)."""
    release = threading.Event()
    with webhook_receiver(hold=release) as receiver:
        webhook = hook(admin, receiver.url, ["*"], ["dev", "test"])
        name = unique("slow/app")
        image(admin, f"dev/{name}", "v1")
        until(lambda: receiver.waiting >= 1, "the receiver holding a delivery")
        for i in range(6):  # more than the sender threads of a process
            image(admin, f"dev/{name}", f"v{i + 2}")
        with env.client("ci") as ci:
            r = ci.post(
                "/api/v1/promotions",
                json={"source": "dev", "target": "test", "image": name, "tag": "v1"},
            )
            assert r.status_code == 201, r.text
        assert not release.is_set() and receiver.waiting >= 1 and not receiver.received
        release.set()
        receiver.wait_for(8)
        assert "io.tidegate.image.promoted" in {e["type"] for e in cloud_events(receiver)}
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")


def test_subscriptions_need_manage_and_never_show_the_secret(env: Env, admin: httpx.Client) -> None:
    with env.client("dave") as dave:
        body = {"url": "http://127.0.0.1:9/x", "events": ["image.pushed"], "secret": SECRET}
        r = dave.post("/api/v1/webhooks", json={**body, "repositories": ["dev"]})
        assert r.status_code == 403 and "manage" in r.json()["message"]
        r = dave.post("/api/v1/webhooks", json=body)
        assert r.status_code == 403
        assert dave.get("/api/v1/webhooks").json() == []
    r = admin.post(
        "/api/v1/webhooks",
        json={"url": "ftp://x", "events": ["image.pushed"], "secret": SECRET},
    )
    assert r.status_code == 400 and "url" in r.json()["message"]
    r = admin.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["image.pushd"], "secret": SECRET},
    )
    assert r.status_code == 400 and "image.pushd" in r.json()["message"]
    r = admin.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["*"], "secret": "short"},
    )
    assert r.status_code == 400 and "secret" in r.json()["message"]
    r = admin.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["*"], "secret": "\x00" * 20},
    )
    assert r.status_code == 400 and "printable" in r.json()["message"], r.text
    r = admin.post(
        "/api/v1/notifications", json={"group": "nope", "events": ["*"], "repositories": []}
    )
    assert r.status_code == 400 and "nope" in r.json()["message"]
    webhook = hook(admin, "http://127.0.0.1:9/x", ["image.pushed"], [])
    r = admin.patch(f"/api/v1/webhooks/{webhook['id']}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    shown = admin.get(f"/api/v1/webhooks/{webhook['id']}").text
    listed = admin.get("/api/v1/webhooks").text
    audit = admin.get("/api/v1/audit", params={"action": "webhook"}).text
    for text in (shown, listed, audit, env.server.log()):
        assert SECRET not in text
    assert admin.delete(f"/api/v1/webhooks/{webhook['id']}").status_code == 204
    assert admin.get(f"/api/v1/webhooks/{webhook['id']}").status_code == 404


def test_a_webhook_needs_read_on_every_image_a_notification_only_manage(
    env: Env, admin: httpx.Client
) -> None:
    """A webhook receives every image of its repositories with no one in between: manage
    alone (no read) does not make one; email is filtered per recipient, so manage does."""
    r = admin.post("/api/v1/users", json={"username": "mona", "password": PASSWORD})
    assert r.status_code == 201, r.text
    target = {"name": "mona-test", "repositories": ["test"], "users": {"mona": ["manage"]}}
    assert admin.post("/api/v1/permissions", json=target).status_code == 201
    with env.client("mona") as mona:
        created: list[int] = []

        def notified() -> bool:  # PostgreSQL: the other worker sees new grants within 1 s
            r = mona.post(
                "/api/v1/notifications",
                json={"group": "testers", "events": ["*"], "repositories": ["test"]},
            )
            assert r.status_code in (201, 401, 403), r.text
            created.extend([r.json()["id"]] if r.status_code == 201 else [])
            return r.status_code == 201

        until(notified, "mona's grant to reach the server")
        time.sleep(1.5)  # and every worker (identity snapshots recheck once a second)
        body = {"url": "http://127.0.0.1:9/x", "events": ["*"], "secret": SECRET}
        for _ in range(4):  # whichever worker answers
            r = mona.post("/api/v1/webhooks", json={**body, "repositories": ["test"]})
            assert r.status_code == 403 and "read" in r.json()["message"], r.text
        assert mona.delete(f"/api/v1/notifications/{created[0]}").status_code == 204
    admin.delete("/api/v1/permissions/mona-test")
    admin.delete("/api/v1/users/mona")


def test_each_event_is_delivered_once_by_one_of_the_workers(env: Env, admin: httpx.Client) -> None:
    with webhook_receiver() as receiver:
        webhook = hook(admin, receiver.url, ["image.pushed"], ["dev"])
        name = unique("once/app")
        digests = {image(admin, f"dev/{name}", f"v{i}") for i in range(10)}
        found = settled(admin, webhook["id"], 10)
        assert all(d["state"] == "succeeded" and d["attempts"] == 1 for d in found)
        ids = [r.headers["X-Tidegate-Delivery"] for r in receiver.received]
        assert sorted(ids) == sorted(str(d["id"]) for d in found)  # none sent twice
        assert {e["data"]["digest"] for e in cloud_events(receiver)} == digests
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")


def test_the_cli_manages_webhooks_and_notifications(
    env: Env, admin: httpx.Client, tmp_path: Path
) -> None:
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    cli_env.update(
        HOME=str(tmp_path),
        TIDEGATE_URL=env.server.url,
        TIDEGATE_USERNAME="admin",
        TIDEGATE_TOKEN=env.server.password,
    )

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(TIDEGATE), *args, "--json"],
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=60,
        )

    def cli(*args: str, stdin: str = "") -> Any:
        done = run(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    empty = run("webhook", "create", "http://127.0.0.1:9/x", "-e", "*", "--secret-stdin")
    assert empty.returncode != 0 and "the signing secret is empty" in empty.stderr

    with webhook_receiver() as receiver:
        created = cli(
            "webhook", "create", receiver.url, "-e", "image.pushed", "-r", "dev",
            "--secret-stdin", stdin=SECRET + "\n",
        )  # fmt: skip
        assert created["secret_set"] is True and SECRET not in json.dumps(created)
        assert created["id"] in [w["id"] for w in cli("webhook", "list")]
        image(admin, f"dev/{unique('cli/app')}", "v1")
        receiver.wait_for(1)
        settled(admin, created["id"])
        (delivery,) = cli("webhook", "deliveries", str(created["id"]))
        assert delivery["state"] == "succeeded" and delivery["response_code"] == 204
        cli("webhook", "redeliver", str(created["id"]), str(delivery["id"]))
        receiver.wait_for(2)
        cli("webhook", "delete", str(created["id"]))
    notification = cli("notify", "create", "testers", "-e", "image.promoted", "-r", "test")
    assert notification["group"] == "testers"
    assert notification["id"] in [n["id"] for n in cli("notify", "list")]
    cli("notify", "delete", str(notification["id"]))


def image(c: httpx.Client, name: str, ref: str) -> str:
    """Push a one-layer image; its digest."""
    return push_image(c, name, ref)[1]


HUGE_IDS = ("99999999999999999999", "9223372036854775808", "0")


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_out_of_range_are_a_clear_422_not_a_500(admin: httpx.Client, huge: str) -> None:
    """Every integer id in an /api/v1 path is checked at the door (1 to 2^63-1)."""
    webhook = hook(admin, "http://127.0.0.1:9/x", ["image.pushed"], [])
    requests = [
        ("POST", f"/api/v1/trash/{huge}/restore", None),
        ("GET", f"/api/v1/webhooks/{huge}", None),
        ("PATCH", f"/api/v1/webhooks/{huge}", {"active": False}),
        ("DELETE", f"/api/v1/webhooks/{huge}", None),
        ("GET", f"/api/v1/webhooks/{huge}/deliveries", None),
        ("POST", f"/api/v1/webhooks/{webhook['id']}/deliveries/{huge}/redeliver", None),
        ("POST", f"/api/v1/webhooks/{huge}/deliveries/1/redeliver", None),
        ("DELETE", f"/api/v1/notifications/{huge}", None),
    ]
    for method, path, body in requests:
        r = admin.request(method, path, json=body)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert r.json()["code"] == "INVALID_REQUEST", r.text
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/x", "http://h:0/"])
def test_a_malformed_webhook_url_is_a_400(admin: httpx.Client, url: str) -> None:
    body = {"url": url, "events": ["*"], "repositories": [], "secret": SECRET}
    r = admin.post("/api/v1/webhooks", json=body)
    assert r.status_code == 400 and "url" in r.json()["message"], r.text
    webhook = hook(admin, "http://127.0.0.1:9/x", ["image.pushed"], [])
    r = admin.patch(f"/api/v1/webhooks/{webhook['id']}", json={"url": url})
    assert r.status_code == 400 and "url" in r.json()["message"], r.text
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")


def test_deleting_a_tag_over_v2_publishes_image_deleted(admin: httpx.Client) -> None:
    """A tag DELETE is a deletion receivers care about: image.deleted with the tag and the
    digest it named (the manifest stays, under its other names)."""
    name = unique("shop/multi")
    with webhook_receiver() as receiver:
        webhook = hook(admin, receiver.url, ["image.deleted"], ["dev"])
        digest = image(admin, f"dev/{name}", "2.0")
        assert admin.delete(f"/v2/dev/{name}/manifests/2.0").status_code == 202
        receiver.wait_for(1)
        (event,) = cloud_events(receiver)
        assert event["type"] == "io.tidegate.image.deleted"
        assert event["subject"] == f"dev/{name}:2.0"
        data = event["data"]
        assert (data["repository"], data["image"], data["tag"]) == ("dev", name, "2.0")
        assert data["digest"] == digest and data["actor"] == "admin"
    admin.delete(f"/api/v1/webhooks/{webhook['id']}")

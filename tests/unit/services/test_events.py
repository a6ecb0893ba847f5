"""Events: the CloudEvents form of an outbox row, the signature, what a subscription matches."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from tidegate.db.events import Subscription
from tidegate.errors import InvalidRequest
from tidegate.services.events import (
    EVENT_TYPES,
    check_events,
    check_secret,
    check_url,
    cloud_event,
    sign,
)


def test_an_outbox_row_becomes_a_cloudevent() -> None:
    row = {
        "id": 42,
        "created_at": datetime(2026, 12, 4, 16, 0, tzinfo=UTC),
        "type": "image.promoted",
        "subject": "test/shop/cart:1.4.0",
        "data": {"repository": "test"},
    }
    event = cloud_event("https://registry.example.com", row)
    assert event == {
        "specversion": "1.0",
        "id": "42",
        "source": "https://registry.example.com",
        "type": "io.tidegate.image.promoted",
        "subject": "test/shop/cart:1.4.0",
        "time": "2026-12-04T16:00:00Z",
        "datacontenttype": "application/json",
        "data": {"repository": "test"},
    }


def test_a_naive_time_is_utc() -> None:
    row = {
        "id": 1,
        "created_at": datetime(2026, 1, 2, 3, 4),
        "type": "t",
        "subject": "s",
        "data": {},
    }
    assert cloud_event("x", row)["time"] == "2026-01-02T03:04:00Z"


def test_the_signature_is_the_hmac_sha256_of_the_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert sign("secret", body) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("events", "repositories", "type_", "repository", "wanted"),
    [
        (["image.promoted"], ["test"], "image.promoted", "test", True),
        (["image.promoted"], ["test"], "image.promoted", "dev", False),
        (["image.promoted"], ["test"], "image.pushed", "test", False),
        (["*"], [], "gc.completed", None, True),
        (["image.pushed"], [], "image.pushed", "dev", True),
        (["*"], ["dev"], "gc.completed", None, False),  # repository-bound: not global events
    ],
)
def test_what_a_subscription_receives(
    events: list[str], repositories: list[str], type_: str, repository: str | None, wanted: bool
) -> None:
    assert Subscription(1, None, events, repositories).wants(type_, repository) is wanted


def test_unknown_event_types_and_bad_urls_are_refused_with_the_reason() -> None:
    assert check_events(["image.pushed", "image.pushed", "*"]) == ["*", "image.pushed"]
    with pytest.raises(InvalidRequest, match="unknown type"):
        check_events(["image.push"])
    with pytest.raises(InvalidRequest, match="at least one"):
        check_events([])
    with pytest.raises(InvalidRequest, match="credentials"):
        check_url("https://user:pw@hooks.example.com/x")
    with pytest.raises(InvalidRequest, match="http"):
        check_url("hooks.example.com/x")
    assert "image.promoted" in EVENT_TYPES and "gc.completed" in EVENT_TYPES


def test_secrets_are_16_to_256_printable_characters() -> None:
    assert check_secret("sixteen-chars-ok") == "sixteen-chars-ok"
    assert check_secret("a secret with spaces and é") == "a secret with spaces and é"
    for bad, reason in (
        ("short", "16 to"),
        ("\x00" * 20, "printable"),
        ("x" * 20 + "\n", "printable"),
    ):
        with pytest.raises(InvalidRequest, match=reason):
            check_secret(bad)


@pytest.mark.parametrize("url", ["http://[::1", "http://h:99999/x", "https://h:0/x"])
def test_urls_that_do_not_parse_are_refused_not_a_crash(url: str) -> None:
    with pytest.raises(InvalidRequest, match="url"):
        check_url(url)

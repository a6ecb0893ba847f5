"""Log lines made while serving a request carry its id; others do not."""

from __future__ import annotations

import json

import pytest
import structlog

from tidegate.logging import REQUEST_ID, configure


def test_a_line_logged_while_serving_a_request_carries_its_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("info")
    try:
        log = structlog.get_logger("tidegate.test")
        token = REQUEST_ID.set("abc123-7")
        try:
            log.info("client disconnected", path="/v2/dev/a/blobs/uploads/x")
        finally:
            REQUEST_ID.reset(token)
        log.info("event delivery attempt", delivery=3)
    finally:
        structlog.reset_defaults()  # the captured stderr goes away with this test
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["request_id"] == "abc123-7" and first["event"] == "client disconnected"
    assert "request_id" not in second

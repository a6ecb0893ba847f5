"""Real receivers on loopback for event delivery tests: an HTTP webhook receiver (which can
fail its first answers, or hold every request until released) and an SMTP server (aiosmtpd)
that keeps the messages it was sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.server import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str
    fail_first: int = 0  # answer 503 to this many requests first
    hold: threading.Event | None = None  # when set: every request waits for it
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    waiting: int = 0  # requests held right now

    def wait_for(self, count: int, what: str = "deliveries", timeout: float = 60) -> None:
        """Until ``count`` requests arrived (fails the test after ``timeout``)."""
        until(lambda: len(self.received) >= count, f"{count} {what}", timeout, self.arrived)


def until(
    ready: Callable[[], bool],
    what: str,
    timeout: float = 60,
    condition: threading.Condition | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if condition is not None:
            with condition:
                condition.wait(0.1)
        else:
            time.sleep(0.05)


@contextmanager
def webhook_receiver(
    fail_first: int = 0, hold: threading.Event | None = None, port: int | None = None
) -> Iterator[WebhookReceiver]:
    port = port or free_port()
    receiver = WebhookReceiver(f"http://127.0.0.1:{port}/hook", fail_first, hold)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if receiver.hold is not None:
                with receiver.arrived:
                    receiver.waiting += 1
                    receiver.arrived.notify_all()
                receiver.hold.wait(120)
                with receiver.arrived:
                    receiver.waiting -= 1
            with receiver.arrived:
                failing = receiver.fail_first > 0
                if failing:
                    receiver.fail_first -= 1
                receiver.received.append(Received(self.path, dict(self.headers), body))
                receiver.arrived.notify_all()
            self.send_response(503 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        until(lambda: len(self.messages) >= count, f"{count} emails", timeout)


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content)
        self.box.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port."""
    port = free_port()
    box = Mailbox("127.0.0.1", port)
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()

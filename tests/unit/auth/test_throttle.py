"""Failed logins counted per client address (docs/access.md, "Failed logins").

The throttle reads ``time.monotonic``; these tests give it a clock they move by hand.
"""

from __future__ import annotations

import pytest

from tidegate.auth import throttle as throttle_module
from tidegate.auth.throttle import LoginThrottle
from tidegate.errors import TooManyRequests

ADDRESS = "192.0.2.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle_module, "time", fake)
    return fake


def fail(throttle: LoginThrottle, clock: Clock, at: float, address: str = ADDRESS) -> bool:
    clock.now = 1000.0 + at
    return throttle.failed(address)


def retry_after(throttle: LoginThrottle, clock: Clock, at: float, address: str = ADDRESS) -> int:
    """The Retry-After a credential check at ``at`` gets; 0 when it is not throttled."""
    clock.now = 1000.0 + at
    try:
        throttle.check(address)
    except TooManyRequests as exc:
        assert exc.retry_after is not None
        assert f"try again in {exc.retry_after} seconds" in exc.message
        return exc.retry_after
    return 0


def test_the_defaults_are_ten_failures_a_minute(clock: Clock) -> None:
    throttle = LoginThrottle()
    for second in range(9):
        fail(throttle, clock, second)
    assert retry_after(throttle, clock, 9) == 0

    fail(throttle, clock, 9)

    assert retry_after(throttle, clock, 10) == 50


def test_limit_failures_within_the_window_throttle_the_address(clock: Clock) -> None:
    throttle = LoginThrottle(limit=3, window=60)
    fail(throttle, clock, 0)
    fail(throttle, clock, 10)
    assert retry_after(throttle, clock, 15) == 0

    fail(throttle, clock, 20)

    assert retry_after(throttle, clock, 20) == 40
    assert retry_after(throttle, clock, 30) == 30
    assert retry_after(throttle, clock, 59.5) == 1  # rounded up, never 0


def test_the_throttle_ends_when_the_oldest_counted_failure_leaves_the_window(
    clock: Clock,
) -> None:
    throttle = LoginThrottle(limit=3, window=60)
    for at in (0, 10, 20):
        fail(throttle, clock, at)

    assert retry_after(throttle, clock, 60) == 0  # the failure at 0 is a minute old
    # the failures at 10 and 20 still count: one more throttles again
    fail(throttle, clock, 61)
    assert retry_after(throttle, clock, 61) == 9


def test_retry_after_is_long_enough(clock: Clock) -> None:
    """A client that waits exactly Retry-After seconds is let through."""
    throttle = LoginThrottle(limit=2, window=30)
    fail(throttle, clock, 0.25)
    fail(throttle, clock, 7.5)
    wait = retry_after(throttle, clock, 8)

    assert wait == 23
    assert retry_after(throttle, clock, 8 + wait) == 0


def test_failures_spread_wider_than_the_window_never_throttle(clock: Clock) -> None:
    throttle = LoginThrottle(limit=3, window=60)
    for at in range(0, 600, 31):  # never three within a minute
        assert fail(throttle, clock, at) is False
        assert retry_after(throttle, clock, at) == 0


def test_addresses_are_counted_apart(clock: Clock) -> None:
    throttle = LoginThrottle(limit=2, window=60)
    fail(throttle, clock, 0, "192.0.2.1")
    fail(throttle, clock, 1, "192.0.2.1")
    fail(throttle, clock, 2, "192.0.2.2")

    assert retry_after(throttle, clock, 3, "192.0.2.1") > 0
    assert retry_after(throttle, clock, 3, "192.0.2.2") == 0
    assert retry_after(throttle, clock, 3, "2001:db8::1") == 0


def test_failed_says_when_a_throttling_starts(clock: Clock) -> None:
    throttle = LoginThrottle(limit=3, window=60)

    assert [fail(throttle, clock, at) for at in (0, 1, 2)] == [False, False, True]
    # at 60.5 the failure at 0 has left the window, so the throttling is over; the failures
    # at 1 and 2 still count, and one more starts the next throttling
    assert retry_after(throttle, clock, 60.5) == 0
    assert fail(throttle, clock, 60.5) is True
    # long after, counting starts from scratch
    assert fail(throttle, clock, 500) is False


def test_a_throttling_is_announced_once(clock: Clock) -> None:
    """Requests that passed ``check`` before the throttling began still fail afterwards
    (argon2 is slow, requests are concurrent): they must not announce it again."""
    throttle = LoginThrottle(limit=3, window=60)
    for at in (0, 1, 2):
        fail(throttle, clock, at)

    assert [fail(throttle, clock, 2.5) for _ in range(5)] == [False] * 5


def test_many_other_addresses_do_not_reset_an_attacked_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory is bounded by evicting the least recently failing addresses, never all."""
    monkeypatch.setattr(throttle_module, "_MAX_ADDRESSES", 50)
    guard = LoginThrottle(limit=3, window=60)
    for _ in range(3):
        guard.failed("203.0.113.9")
    for i in range(200):
        guard.failed(f"198.51.100.{i}")
        guard.failed("203.0.113.9")  # the attack goes on: stays among the most recent

    with pytest.raises(TooManyRequests):
        guard.check("203.0.113.9")

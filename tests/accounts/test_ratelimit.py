"""The sliding-window limiter, with an injected clock."""

from __future__ import annotations

import pytest

from chat.accounts.ratelimit import Limiters, SlidingWindowLimiter
from chat.config import Settings
from chat.errors import RateLimited


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_the_limit_then_refuses_with_retry_after() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60, clock=clock, code="too_many_logins")
    for _ in range(3):
        limiter.hit("bob")
        clock.now += 10
    with pytest.raises(RateLimited) as refused:
        limiter.hit("bob")
    assert refused.value.code == "too_many_logins"
    assert refused.value.retry_after == 30  # the first hit (t=1000) leaves the window at t=1060; now is 1030
    assert refused.value.to_dict()["retry_after"] == 30


def test_the_window_slides() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 60, clock=clock)
    limiter.hit("k")
    clock.now += 30
    limiter.hit("k")
    clock.now += 31  # the first hit is out of the window now
    limiter.hit("k")
    with pytest.raises(RateLimited):
        limiter.hit("k")


def test_a_refused_hit_is_not_recorded() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 60, clock=clock)
    limiter.hit("k")
    for _ in range(5):
        clock.now += 10
        with pytest.raises(RateLimited):
            limiter.hit("k")
    clock.now = 1061
    limiter.hit("k")  # only the one accepted hit counted


def test_keys_are_independent_and_check_records_nothing() -> None:
    limiter = SlidingWindowLimiter(1, 60, clock=FakeClock())
    limiter.check("a")
    limiter.check("a")
    limiter.hit("a")
    limiter.hit("b")
    with pytest.raises(RateLimited):
        limiter.check("a")
    limiter.reset("a")
    limiter.hit("a")


def test_zero_disables() -> None:
    limiter = SlidingWindowLimiter(0, 60, clock=FakeClock())
    for _ in range(1000):
        limiter.hit("k")
    assert len(limiter) == 0


def test_idle_keys_are_swept() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 10, clock=clock)
    for i in range(1000):
        limiter.hit(f"address-{i}")
    assert len(limiter) == 1000
    clock.now += 11
    for i in range(30):
        limiter.hit(f"later-{i}")  # the 1024th hit sweeps the stale keys
    assert len(limiter) == 30


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(-1, 10)


def test_limiters_follow_the_settings() -> None:
    settings = Settings(login_limit_per_account=2, login_limit_per_address=7, register_limit_per_address=0)
    limiters = Limiters.from_settings(settings, clock=FakeClock())
    assert (limiters.login_account.limit, limiters.login_account.window_s) == (2, settings.login_limit_window_s)
    assert limiters.login_address.limit == 7
    assert not limiters.register_address.enabled

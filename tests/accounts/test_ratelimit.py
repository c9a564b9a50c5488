"""The sliding-window limiter, with an injected clock."""

from __future__ import annotations

import pytest

from chat.accounts.ratelimit import KnownAddresses, Limiters, SlidingWindowLimiter
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


# --- the failed-login policy: per account and address, then a slower global back-off ------------


def login_limiters(clock: FakeClock, **limits: int) -> Limiters:
    return Limiters.from_settings(Settings().replace(**limits), clock=clock)


def test_failures_from_one_address_do_not_lock_the_owner_out_from_another() -> None:
    limiters = login_limiters(FakeClock(), login_limit_per_account=3)
    for _ in range(3):
        limiters.check_login("bob", "203.0.113.9")
        limiters.login_failed("Bob", "203.0.113.9")
    with pytest.raises(RateLimited) as refused:
        limiters.check_login("bob", "203.0.113.9")
    assert refused.value.code == "too_many_logins"
    limiters.check_login("bob", "198.51.100.7")  # the owner, elsewhere
    limiters.check_login("carol", "203.0.113.9")  # another account from the guessing address


def test_the_global_back_off_stops_new_addresses_after_its_threshold_not_known_ones() -> None:
    clock = FakeClock()
    limiters = login_limiters(
        clock, login_limit_per_account=3, login_limit_per_account_global=6, login_limit_global_window_s=3600
    )
    limiters.login_succeeded("bob", "198.51.100.7")  # the owner logged in from here before
    for i in range(6):  # six addresses, one wrong guess each: no address reaches its own limit
        limiters.check_login("bob", f"203.0.113.{i}")
        limiters.login_failed("bob", f"203.0.113.{i}")
    with pytest.raises(RateLimited) as refused:
        limiters.check_login("bob", "203.0.113.99")
    assert refused.value.code == "too_many_logins" and refused.value.retry_after == 3600
    with pytest.raises(RateLimited):
        limiters.check_login("bob", "203.0.113.0")
    limiters.check_login("bob", "198.51.100.7")  # a known address still may try
    limiters.login_failed("bob", "198.51.100.7")  # and a typo there is counted, not raised
    limiters.check_login("carol", "203.0.113.99")  # other accounts are unaffected
    clock.now += 3601
    limiters.check_login("bob", "203.0.113.99")  # the window slid


def test_known_addresses_are_forgotten_after_their_ttl_and_bounded() -> None:
    clock = FakeClock()
    known = KnownAddresses(100, clock=clock, per_account=2)
    known.add("bob", "a")
    clock.now += 50
    known.add("bob", "b")
    known.add("bob", "c")  # "a" is dropped: two per account
    assert not known.knows("bob", "a") and known.knows("bob", "b") and known.knows("bob", "c")
    assert not known.knows("carol", "b")
    clock.now += 100
    assert not known.knows("bob", "b")

"""In-memory sliding-window rate limits (login, registration), and the failed-login policy.

A :class:`SlidingWindowLimiter` allows at most ``limit`` hits per key within the
last ``window_s`` seconds; the hit that would exceed it raises
:class:`chat.errors.RateLimited` with the number of seconds until the oldest
hit leaves the window (the web layer turns it into 429 + ``Retry-After``).
A limit of 0 disables the limiter.

Failed logins (:meth:`Limiters.check_login`, :meth:`Limiters.login_failed`) must
not let anyone lock an owner out of their account by guessing wrong on purpose,
so they are counted twice:

1. per account *and* client address (``login_limit_per_account`` per
   ``login_limit_window_s``): the address that guesses is stopped, the owner at
   another address is not;
2. per account from every address together, a much higher threshold over a
   longer window (``login_limit_per_account_global`` per
   ``login_limit_global_window_s``): a guesser spread over many addresses is
   slowed down too. While that window is full, only addresses this account
   has logged in from (in this process, within ``session_days``) may still try:
   the owner's usual address is never locked out by strangers.

Every attempt also counts per address (``login_limit_per_address``).

The state lives in one process: with several server processes behind a load
balancer each process counts on its own, so the effective limit is multiplied
by the number of processes. That is acceptable for slowing down password
guessing; a shared (Redis) limiter can replace this class behind the same
``hit``/``check`` methods.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from chat.config import Settings
from chat.errors import RateLimited

Clock = Callable[[], float]

_SWEEP_EVERY = 1024  # drop idle keys every N hits so memory stays bounded by the active keys


class SlidingWindowLimiter:
    def __init__(
        self, limit: int, window_s: float, *, clock: Clock = time.monotonic, code: str = "rate_limited"
    ) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self.window_s = window_s
        self.code = code
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._since_sweep = 0

    @property
    def enabled(self) -> bool:
        return self.limit > 0 and self.window_s > 0

    def check(self, key: str) -> None:
        """Raise ``RateLimited`` if ``key`` has no hit left in the window; records nothing."""
        if not self.enabled:
            return
        now = self._clock()
        hits = self._prune(key, now)
        if hits is not None and len(hits) >= self.limit:
            raise RateLimited(hits[0] + self.window_s - now, self.code)

    def hit(self, key: str) -> None:
        """Record one hit for ``key``, or raise ``RateLimited`` (unrecorded) if the window is full."""
        if not self.enabled:
            return
        self.check(key)
        self._hits.setdefault(key, deque()).append(self._clock())
        self._since_sweep += 1
        if self._since_sweep >= _SWEEP_EVERY:
            self._sweep()

    def record(self, key: str) -> None:
        """Record one hit for ``key`` if the window has room; never raises (a full window stays full)."""
        with contextlib.suppress(RateLimited):
            self.hit(key)

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        horizon = now - self.window_s
        while hits and hits[0] <= horizon:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def _sweep(self) -> None:
        self._since_sweep = 0
        now = self._clock()
        for key in list(self._hits):
            self._prune(key, now)

    def __len__(self) -> int:
        """How many keys are tracked (for tests and metrics)."""
        return len(self._hits)


class KnownAddresses:
    """The client addresses each account logged in from, each remembered for ``ttl_s`` seconds.

    At most ``per_account`` addresses per account (the most recent), and only accounts that
    logged in successfully are kept, so memory stays bounded by the real users.
    """

    def __init__(self, ttl_s: float, *, clock: Clock = time.monotonic, per_account: int = 16) -> None:
        self.ttl_s = ttl_s
        self.per_account = per_account
        self._clock = clock
        self._seen: dict[str, OrderedDict[str, float]] = {}

    def add(self, account: str, address: str) -> None:
        seen = self._seen.setdefault(account, OrderedDict())
        seen.pop(address, None)
        seen[address] = self._clock()
        while len(seen) > self.per_account:
            seen.popitem(last=False)

    def knows(self, account: str, address: str) -> bool:
        seen = self._seen.get(account)
        when = seen.get(address) if seen is not None else None
        return when is not None and self._clock() - when < self.ttl_s


@dataclass(frozen=True)
class Limiters:
    """The account limiters of one server process, built from the settings (policy: module docstring)."""

    login_account: SlidingWindowLimiter  # failed logins per (username, client address)
    login_account_global: SlidingWindowLimiter  # failed logins per username, every address together
    login_address: SlidingWindowLimiter  # login attempts per client address
    register_address: SlidingWindowLimiter  # registrations per client address
    known_addresses: KnownAddresses  # where each username logged in from

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.monotonic) -> Limiters:
        return cls(
            login_account=SlidingWindowLimiter(
                settings.login_limit_per_account, settings.login_limit_window_s, clock=clock, code="too_many_logins"
            ),
            login_account_global=SlidingWindowLimiter(
                settings.login_limit_per_account_global,
                settings.login_limit_global_window_s,
                clock=clock,
                code="too_many_logins",
            ),
            login_address=SlidingWindowLimiter(
                settings.login_limit_per_address, settings.login_limit_window_s, clock=clock, code="too_many_logins"
            ),
            register_address=SlidingWindowLimiter(
                settings.register_limit_per_address,
                settings.register_limit_window_s,
                clock=clock,
                code="too_many_registrations",
            ),
            known_addresses=KnownAddresses(settings.session_days * 86400, clock=clock),
        )

    def check_login(self, username: str, address: str) -> None:
        """Raise ``RateLimited`` if ``address`` may not try a password of ``username`` now; records nothing."""
        account = username.lower()
        self.login_account.check(_pair(account, address))
        if not self.known_addresses.knows(account, address):
            self.login_account_global.check(account)

    def login_failed(self, username: str, address: str) -> None:
        """Count a wrong password for ``username`` from ``address``."""
        account = username.lower()
        self.login_account.record(_pair(account, address))
        self.login_account_global.record(account)

    def login_succeeded(self, username: str, address: str) -> None:
        """Remember ``address`` as one ``username`` logs in from (it passes the global back-off)."""
        self.known_addresses.add(username.lower(), address)


def _pair(account: str, address: str) -> str:
    return f"{account}\n{address}"  # a newline is in neither a username nor an address

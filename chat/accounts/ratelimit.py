"""In-memory sliding-window rate limits (login, registration).

A :class:`SlidingWindowLimiter` allows at most ``limit`` hits per key within the
last ``window_s`` seconds; the hit that would exceed it raises
:class:`chat.errors.RateLimited` with the number of seconds until the oldest
hit leaves the window (the web layer turns it into 429 + ``Retry-After``).
A limit of 0 disables the limiter.

The state lives in one process: with several server processes behind a load
balancer each process counts on its own, so the effective limit is multiplied
by the number of processes. That is acceptable for slowing down password
guessing; a shared (Redis) limiter can replace this class behind the same
``hit``/``check`` methods.
"""

from __future__ import annotations

import time
from collections import deque
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


@dataclass(frozen=True)
class Limiters:
    """The account limiters of one server process, built from the settings."""

    login_account: SlidingWindowLimiter  # failed logins per username
    login_address: SlidingWindowLimiter  # login attempts per client address
    register_address: SlidingWindowLimiter  # registrations per client address

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.monotonic) -> Limiters:
        return cls(
            login_account=SlidingWindowLimiter(
                settings.login_limit_per_account, settings.login_limit_window_s, clock=clock, code="too_many_logins"
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
        )

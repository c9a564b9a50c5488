"""Which cursor a client may keep while live delivery may have missed events.

Two things can make a process deliver an event while an older one is missing from the
live stream, though it is (or may be) in the log:

* **a broker outage**: without the broker this process still delivers its own events
  but not the other processes' (some with lower ids);
* **a commit in doubt**: PostgreSQL went away during a write's ``COMMIT``. The write
  is reported as failed (503, retried with its nonce), yet the commit may have been
  durable; its events were never published, and a retried post finds the stored
  message and publishes nothing.

In both cases a client that kept a later event's id as its cursor would resume past
the missing one. ``newest`` is the newest event id delivered while nothing could be
missing; from the first event delivered after such a moment until every socket was
told to resume (``4009``, :meth:`resumed`), event frames carry ``"cursor": newest``,
which the client keeps instead of the id, skipping on replay the ids it already
processed (a ``resync`` frame sent before the ``4009`` would be lost with a dropped
connection). A commit in doubt also lowers ``newest`` below the doubtful events'
first id, in case an event with a higher id got through before the doubt was known.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chat.realtime.resumable import capped_frame

log = logging.getLogger(__name__)


class Horizon:
    """``probe`` answers once the database does (the hub's membership loader); after a commit in
    doubt, ``settled`` is called once it did: it closes every socket with ``4009`` (the log now
    holds the doubtful events if they committed) and calls :meth:`resumed`."""

    def __init__(
        self, *, probe: Callable[[], Awaitable[object]] | None = None, settled: Callable[[], None] | None = None
    ) -> None:
        self.newest = 0  # newest event id delivered while nothing could be missing
        self.capped = False  # events may be missing: frames carry ``"cursor": newest``
        self._probe = probe
        self._settled = settled
        self._settling: asyncio.Task[None] | None = None

    def frame(self, text: str, event_id: int, *, broker_connected: bool) -> str:
        """The frame to deliver for event ``event_id`` (``text``): capped while events may be missing."""
        if not broker_connected:
            self.capped = True  # events of other processes may be missing from here on
        if self.capped:
            return capped_frame(text, self.newest)
        self.newest = max(self.newest, event_id)
        return text

    def doubt(self, after: int) -> None:
        """Events after ``after`` may be committed and never published."""
        self.capped = True
        self.newest = min(self.newest, after)
        if self._settling is None and self._settled is not None:
            self._settling = asyncio.get_running_loop().create_task(self._settle(), name="horizon-settle")

    def resumed(self) -> None:
        """Every socket that got capped frames was closed: the new ones resume from the log."""
        self.capped = False

    def close(self) -> None:
        if self._settling is not None:
            self._settling.cancel()

    async def _settle(self) -> None:
        try:
            if self._probe is not None:
                await until_it_answers(self._probe, "waiting for the database after a commit in doubt")
        finally:
            self._settling = None
        if self._settled is not None:
            self._settled()


async def until_it_answers(
    probe: Callable[[], Awaitable[object]], what: str, *, first_wait_s: float = 0.1, longest_wait_s: float = 2.0
) -> None:
    """Call ``probe`` until it returns without raising, waiting longer between tries (up to
    ``longest_wait_s``); each failure is logged at INFO with ``what``."""
    wait = first_wait_s
    while True:
        try:
            await probe()
            return
        except Exception as exc:
            log.info("%s (%r)", what, exc)
        await asyncio.sleep(wait)
        wait = min(wait * 2, longest_wait_s)

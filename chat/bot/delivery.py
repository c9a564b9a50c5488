"""Each event once, in order, and the cursor a restarted bot resumes from.

``Delivery`` is the bookkeeping between the socket and the bot's handlers,
with no I/O but ``CursorStore.save``:

* on ``hello`` it decides whether to ``resume`` (the bot has a cursor older than
  the server's newest event) or to start from the server's newest event;
* while a resume runs, event frames (replayed and live) are buffered, then
  sorted and deduplicated by id when ``resumed`` arrives;
* an event at or below the floor, or among the recently delivered ids, is dropped;
* the cursor (``received``, what a reconnect resumes after) is the event's id, or the
  frame's ``cursor`` when it has one (the server sends it while it cannot vouch for
  the events of its other processes: docs/protocol.md, "Resume"); the ids delivered
  above the cursor are all kept, so the replay after the reconnect skips them however
  many there are;
* the saved cursor is the newest id below which every received event was
  handled, so an event queued but not yet handled is delivered again after a
  restart of the bot, and a handled one never is.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import OrderedDict
from typing import Any

from chat.bot.cursor import CursorStore

Event = dict[str, Any]
Item = tuple[str, Event]  # ("event", event) or (frame type, ephemeral frame)

log = logging.getLogger("chat.bot")

RECENT_IDS = 10_000  # event ids remembered for deduplication


class Delivery:
    def __init__(self, store: CursorStore | None) -> None:
        self.store = store
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self.received: int | None = None  # newest event id received (or skipped as not ours)
        self.saved: int | None = None  # what the store holds
        self._undone: list[int] = []  # queued, not handled yet (sorted)
        self._floor = 0  # events at or below were delivered already or are not for us
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._above: set[int] = set()  # delivered ids above ``received`` (never forgotten before it passes them)
        self._buffer: list[tuple[Event, int | None]] | None = None  # (event, cursor) that arrive while a resume runs
        self._resume_after = 0

    def load(self) -> None:
        self.received = self.saved = self.store.load() if self.store is not None else None

    def connected(self, server_last: int) -> int | None:
        """After ``hello``: the cursor to ``resume`` after, or None when nothing was missed."""
        cursor = self.received
        if cursor is not None and cursor < server_last:
            self._buffer, self._resume_after = [], cursor
            return cursor
        if cursor is not None and cursor > server_last:
            log.warning("cursor %s is ahead of the server's newest event %s: following the server", cursor, server_last)
            self.saved = None
            self._recent.clear()
            self._above.clear()
        self.received = self._floor = server_last
        self._above = {event_id for event_id in self._above if event_id > server_last}
        self.persist()
        return None

    def disconnected(self) -> None:
        self._buffer = None  # an unfinished resume starts again from ``received``

    @property
    def resuming(self) -> bool:
        return self._buffer is not None

    def event(self, event: Event, cursor: int | None = None) -> None:
        """An event frame's ``event``, and its ``cursor`` field if it has one."""
        if self._buffer is not None:
            self._buffer.append((event, cursor))
        else:
            self._accept(event, cursor)

    def ephemeral(self, frame: Event) -> None:
        kind = str(frame["type"])
        users = frame.get("users")
        if kind == "presence" and isinstance(users, list):
            # one frame lists several users (the snapshot, or a second's changes): one call a user
            for entry in users:
                if isinstance(entry, dict):
                    self.queue.put_nowait((kind, {"type": kind, **entry}))
            return
        self.queue.put_nowait((kind, frame))

    def resumed(self, last_event_id: int) -> None:
        buffered = {int(e["id"]): (e, cursor) for e, cursor in self._buffer or ()}
        self._buffer = None
        self._floor = max(self._floor, self._resume_after)
        for event_id in sorted(buffered):
            self._accept(*buffered[event_id])
        self._floor = max(self._floor, last_event_id)
        self._advance(last_event_id)
        self.persist()

    def done(self, event_id: int) -> None:
        """The event's handlers returned (or the iterator moved on): the cursor may pass it."""
        i = bisect.bisect_left(self._undone, event_id)
        if i < len(self._undone) and self._undone[i] == event_id:
            del self._undone[i]
        self.persist()

    def persist(self) -> None:
        """Save the newest id below which every received event was handled, if it moved forward."""
        safe = self.received
        if self._undone and safe is not None:
            safe = min(safe, self._undone[0] - 1)
        if self.store is None or safe is None or (self.saved is not None and safe <= self.saved):
            return
        self.store.save(safe)
        self.saved = safe

    def end(self) -> None:
        self.queue.put_nowait(None)

    def _accept(self, event: Event, cursor: int | None) -> None:
        event_id = int(event["id"])
        if event_id <= self._floor or event_id in self._recent or event_id in self._above:
            return
        self._recent[event_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        self._above.add(event_id)
        self._advance(event_id if cursor is None else min(int(cursor), event_id))
        bisect.insort(self._undone, event_id)
        self.queue.put_nowait(("event", event))

    def _advance(self, cursor: int) -> None:
        """Move the cursor forward to ``cursor``; the ids it passes need no remembering beyond ``_recent``."""
        if self.received is not None and cursor <= self.received:
            return
        self.received = cursor
        self._above = {event_id for event_id in self._above if event_id > cursor}

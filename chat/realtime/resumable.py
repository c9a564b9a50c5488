"""A connection whose live delivery can be held while the event log is replayed.

Resuming means reading the log after a cursor while new events keep arriving
live. While a connection is *held*, live frames from the hub are buffered;
``release(upto)`` then drops the buffered events the replay already sent
(``id <= upto``) and queues the rest, so the client gets every event once and
in order. The replay may also have read events committed but not yet published
(the writer publishes after its commit): those reach the hub *after* the release,
so live events with ``id <= upto`` keep being dropped until the first newer one
passes (live delivery is in commit order, and every id up to a replay's cursor
was committed when it read). Direct replies (``send_now``: hello, acks, replayed
events) are never held.

A replay can be longer than the queue: the replaying code queues what fits,
then awaits :meth:`room` while the writer hands the frames to the socket. A
client that does not take them within the given time is a slow consumer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from chat.realtime.connection import (
    CLOSE_SLOW_CONSUMER,
    REASON_SLOW_CONSUMER,
    Connection,
    WireMessage,
    frame_text,
    text_message,
)

# Event frames start with the event's id (see chat.realtime.frames.event_frame and Event.public).
_EVENT_ID = re.compile(r'^\{"type":"event","event":\{"id":(\d+)')


def event_id_of(frame: str) -> int | None:
    match = _EVENT_ID.match(frame)
    return int(match.group(1)) if match else None


def capped_frame(frame: str, cursor: int) -> str:
    """An event frame that tells the client to keep ``cursor``, not the event's id, as its cursor
    (``chat.realtime.hub``: during a broker outage). The event stays first, for :func:`event_id_of`."""
    return f'{frame[:-1]},"cursor":{cursor}}}'


class ResumableConnection(Connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[WireMessage] | None = None
        self._floor = 0  # after a release: live events up to this id were replayed already
        self.queue_size = int(kwargs.get("queue_size", 256))
        self._hold_limit = self.queue_size

    def hold(self) -> None:
        """Buffer live frames from now on (until :meth:`release`)."""
        if self._held is None:
            self._held = []

    def release(self, upto: int) -> None:
        """Resume live delivery; buffered events with ``id <= upto`` were replayed already."""
        held, self._held = self._held, None
        self._floor = upto
        for message in held or ():
            event_id = event_id_of(message["text"])
            if event_id is not None and event_id <= upto:
                continue
            if event_id is not None:
                self._floor = 0  # a newer event went through: every later one is newer still
            if not super().offer(message):
                return

    def offer(self, message: WireMessage) -> bool:
        if self._held is None:
            if self._floor:
                event_id = event_id_of(message["text"])
                if event_id is not None:
                    if event_id <= self._floor:
                        return True  # replayed already: committed before the replay read, published after
                    self._floor = 0  # newer ones only from here on: stop looking
            return super().offer(message)
        if self.closed:
            return False
        if len(self._held) >= self._hold_limit:
            self.close_soon(CLOSE_SLOW_CONSUMER, REASON_SLOW_CONSUMER)
            return False
        self._held.append(message)
        return True

    def send_now(self, frame: str | bytes | Mapping[str, Any]) -> bool:
        return super().offer(text_message(frame_text(frame)))

    def is_full(self) -> bool:
        return self.pending >= self.queue_size

    async def room(self, within_s: float) -> bool:
        """Wait until the writer has sent everything queued. False if the connection closed,
        or if the client did not read it within ``within_s`` seconds (then it is closed as slow)."""
        if self.closed:
            return False
        try:
            async with asyncio.timeout(within_s):
                # Connection keeps its queue to itself; join() returns once the writer sent all
                # (or the connection closed and dropped the rest).
                await self._queue.join()
        except TimeoutError:
            self.close_soon(CLOSE_SLOW_CONSUMER, REASON_SLOW_CONSUMER)
        return not self.closed

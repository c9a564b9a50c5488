"""Limits on ephemeral traffic (typing, presence): pure bookkeeping over a clock, no I/O.

Typing and presence frames are never stored, so dropping one loses nothing a
client needs; sending every one lets a single client storm a whole team.

* :class:`TypingThrottle` (one per connection): a ``typing`` frame for the same
  conversation and topic within :data:`TYPING_INTERVAL_S` of the last one that
  went out is not fanned out. The client is still acked (the frame was valid;
  it has nothing to retry), so a client cannot tell, and need not care.
* :class:`PresenceBatch` (one per hub): presence changes are collected and
  flushed at most once per :data:`PRESENCE_INTERVAL_S`, each connection getting
  **one** frame that lists every user it shares a conversation with whose status
  changed (``{"type": "presence", "users": [...]}``). Each user appears with the
  status they have at the flush, and not at all if they flapped back to what
  their peers were last told. A flush after a quiet interval runs at once (a
  lone change is told without delay); under a burst (hundreds of people
  connecting at once) each connection gets one frame per interval instead of
  one per person, and the final state is always told.

Who is told (the hub): a user is online while they have at least one socket on
any server process, and their status goes to the connected users who share a
conversation with them (not to the user), so a guest learns only about the
people of their own conversations. Processes tell each other who is connected
on every change and every ``presence_interval_s``; a process silent for three
intervals is taken to be gone with all its users. A member who joins a
conversation and its online members are introduced at the next flush. Presence
is best effort (``Connection.offer_if_room``): a frame that does not fit a busy
socket is owed to it and sent at a later flush, with the statuses of that moment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

C = TypeVar("C", bound=Hashable)  # a connection, as the hub knows it

TYPING_INTERVAL_S = 2.0
PRESENCE_INTERVAL_S = 1.0
_MAX_TYPING_KEYS = 64  # per connection: beyond this, forget the entries whose interval has passed


class TypingThrottle:
    def __init__(self, interval_s: float | None = None) -> None:
        self._interval = TYPING_INTERVAL_S if interval_s is None else interval_s
        self._last: dict[tuple[int, str | None], float] = {}  # (conversation, topic) -> when it last went out

    def allows(self, conversation: int, topic: str | None, *, now: float) -> bool:
        """Whether a typing notice may go out now (it is then counted as sent)."""
        key = (conversation, topic)
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) >= _MAX_TYPING_KEYS:
            self._last = {k: t for k, t in self._last.items() if now - t < self._interval}
        self._last[key] = now
        return True

    def forget(self, conversation: int, topic: str | None) -> None:
        """The notice was refused after all (not allowed there): do not count it."""
        self._last.pop((conversation, topic), None)


class PresenceBatch(Generic[C]):
    """Presence changes waiting for the hub's next flush: which users to tell about, and to
    which connections something is owed (an introduction, or a frame that did not fit)."""

    def __init__(self, interval_s: float | None = None) -> None:
        self.interval = PRESENCE_INTERVAL_S if interval_s is None else interval_s
        self._changed: set[int] = set()  # users whose status changed since the last flush
        self._told: set[int] = set()  # users the peers were last told are online
        self._owed: dict[C, set[int]] = {}  # connection -> users to tell it about, whatever changed
        self._last = -math.inf  # when the last flush ran

    def __bool__(self) -> bool:
        return bool(self._changed or self._owed)

    def change(self, user_id: int) -> None:
        """The user's status changed (the status to tell is read at the flush)."""
        self._changed.add(user_id)

    def owe(self, conn: C, users: Iterable[int]) -> None:
        """Tell ``conn`` the status of ``users`` at the next flush, changed or not."""
        self._owed.setdefault(conn, set()).update(users)

    def forget(self, conn: C) -> None:
        self._owed.pop(conn, None)

    def delay(self, *, now: float) -> float:
        """How long the next flush must wait: none if the last one is an interval old."""
        return max(0.0, self._last + self.interval - now)

    def take(self, is_online: Callable[[int], bool], *, now: float) -> tuple[dict[int, bool], dict[C, set[int]]]:
        """Start a flush: the users whose status differs from what their peers were last told,
        with the status they have now (a user who flapped back is left out), and what is owed."""
        self._last = now
        changed, self._changed = self._changed, set()
        owed, self._owed = self._owed, {}
        tell: dict[int, bool] = {}
        for user_id in changed:
            online = is_online(user_id)
            if online != (user_id in self._told):
                tell[user_id] = online
                if online:
                    self._told.add(user_id)
                else:
                    self._told.discard(user_id)
        return tell, owed

"""Limits on ephemeral traffic (typing, presence): pure bookkeeping over a clock, no I/O.

Typing and presence frames are never stored, so dropping one loses nothing a
client needs; sending every one lets a single client storm a whole team.

* :class:`TypingThrottle` (one per connection): a ``typing`` frame for the same
  conversation and topic within :data:`TYPING_INTERVAL_S` of the last one that
  went out is not fanned out. The client is still acked (the frame was valid;
  it has nothing to retry), so a client cannot tell, and need not care.
* :class:`PresenceCoalescer` (one per hub): at most one presence frame per user
  per :data:`PRESENCE_INTERVAL_S`. A change inside the interval is held; when
  the interval ends the *latest* status goes out, and nothing at all if the
  user flapped back to the status last announced. A user flapping online and
  offline produces one frame a second at most, and the final state is always
  told.
"""

from __future__ import annotations

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


class PresenceCoalescer:
    def __init__(self, interval_s: float | None = None) -> None:
        self._interval = PRESENCE_INTERVAL_S if interval_s is None else interval_s
        self._sent: dict[int, tuple[float, bool]] = {}  # user -> (when, status) of the last frame sent
        self._held: dict[int, bool] = {}  # user -> newest status not sent yet

    def change(self, user_id: int, online: bool, *, now: float) -> float | None:
        """A user's status changed. Returns 0 to send it now, a delay after which to call
        :meth:`due` for the user, or None if a call to :meth:`due` is already waiting."""
        if user_id in self._held:
            self._held[user_id] = online
            return None
        last = self._sent.get(user_id)
        if last is None or now - last[0] >= self._interval:
            self._sent[user_id] = (now, online)
            return 0.0
        self._held[user_id] = online
        return last[0] + self._interval - now

    def due(self, user_id: int, *, now: float) -> bool | None:
        """The interval of a held change has passed: the status to send, or None when the
        user is back where the last frame said (or nothing is held)."""
        online = self._held.pop(user_id, None)
        if online is None or online == self._sent.get(user_id, (0.0, not online))[1]:
            return None
        self._sent[user_id] = (now, online)
        return online

    def prune(self, *, now: float) -> None:
        """Forget users whose last frame is older than the interval (they would be sent at once anyway)."""
        self._sent = {u: s for u, s in self._sent.items() if u in self._held or now - s[0] < self._interval}

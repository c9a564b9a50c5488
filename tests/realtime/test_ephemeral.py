"""The throttle and the coalescer on a clock the test controls."""

from __future__ import annotations

from chat.realtime.ephemeral import PresenceCoalescer, TypingThrottle


def test_typing_goes_out_once_per_interval_per_conversation_and_topic() -> None:
    throttle = TypingThrottle(2.0)
    assert throttle.allows(1, "Q3", now=0.0)
    assert not throttle.allows(1, "Q3", now=1.9)
    assert throttle.allows(1, "Q4", now=1.9) and throttle.allows(2, "Q3", now=1.9) and throttle.allows(1, None, now=1.9)
    assert throttle.allows(1, "Q3", now=2.0)
    throttle.forget(1, "Q3")  # refused after all: the next one is not held back by it
    assert throttle.allows(1, "Q3", now=2.1)


def test_typing_keys_stay_bounded() -> None:
    throttle = TypingThrottle(2.0)
    for topic in range(1000):
        assert throttle.allows(1, str(topic), now=float(topic * 3))
    assert len(throttle._last) <= 64


def test_presence_is_one_frame_per_user_per_interval_with_the_newest_status() -> None:
    c = PresenceCoalescer(1.0)
    assert c.change(7, True, now=0.0) == 0.0  # the first change goes out at once
    assert c.change(7, False, now=0.25) == 0.75  # held: due when the interval ends
    assert c.change(7, True, now=0.5) is None and c.change(7, False, now=0.6) is None  # already waiting
    assert c.due(7, now=1.0) is False  # the newest status
    assert c.change(8, True, now=1.0) == 0.0  # another user has an interval of its own
    assert c.change(7, True, now=1.5) == 0.5
    assert c.change(7, False, now=1.6) is None
    assert c.due(7, now=2.0) is None  # back where the last frame said: nothing to tell
    assert c.change(7, True, now=3.5) == 0.0  # a quiet user is told at once again
    c.prune(now=10.0)
    assert c._sent == {}

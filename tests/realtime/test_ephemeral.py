"""The typing throttle and the presence batch on a clock the test controls."""

from __future__ import annotations

from chat.realtime.ephemeral import PresenceBatch, TypingThrottle


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


def test_presence_flushes_at_most_once_per_interval_with_the_status_at_the_flush() -> None:
    batch: PresenceBatch[str] = PresenceBatch(1.0)
    online = {7}
    assert not batch and batch.delay(now=0.0) == 0.0  # quiet: the first flush runs at once
    batch.change(7)
    assert batch
    assert batch.take(online.__contains__, now=0.0) == ({7: True}, {})
    assert not batch
    for user in (8, 9, 10):  # a burst within the interval waits for its end
        batch.change(user)
        online.add(user)
    online.discard(10)  # 10 came and went: back where the peers were last told
    assert batch.delay(now=0.25) == 0.75
    assert batch.take(online.__contains__, now=1.0) == ({8: True, 9: True}, {})
    batch.change(7)
    online.discard(7)
    batch.change(7)  # flapped twice: the status at the flush is what counts
    assert batch.take(online.__contains__, now=2.0) == ({7: False}, {})
    batch.change(7)  # told offline already, and still offline: nothing to tell
    assert batch.take(online.__contains__, now=3.0) == ({}, {})
    assert batch.delay(now=10.0) == 0.0


def test_presence_owed_to_a_connection_goes_out_whatever_changed() -> None:
    batch: PresenceBatch[str] = PresenceBatch(1.0)
    batch.owe("tab 1", [8, 9])
    batch.owe("tab 1", [9, 10])
    batch.owe("tab 2", [8])
    batch.forget("tab 2")  # closed before the flush
    assert batch
    assert batch.take({8}.__contains__, now=0.0) == ({}, {"tab 1": {8, 9, 10}})
    assert not batch

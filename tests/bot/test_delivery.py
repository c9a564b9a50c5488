"""The bot client's bookkeeping without a server: dedup, resume order, the handled-cursor, URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat.bot import FileCursorStore, MemoryCursorStore
from chat.bot.delivery import RECENT_IDS, Delivery
from chat.bot.rest import http_url_of, ws_url_of


def ev(event_id: int) -> dict[str, Any]:
    return {"id": event_id, "kind": "message.posted", "conversation": 1, "seq": event_id, "data": {}}


def queued(delivery: Delivery) -> list[int]:
    ids = []
    while not delivery.queue.empty():
        item = delivery.queue.get_nowait()
        assert item is not None
        ids.append(int(item[1]["id"]))
    return ids


def test_a_new_bot_starts_from_the_servers_newest_event_and_saves_it() -> None:
    store = MemoryCursorStore()
    delivery = Delivery(store)
    delivery.load()
    assert delivery.connected(10) is None
    assert store.event_id == 10
    for event_id in (11, 12, 11, 9, 12):
        delivery.event(ev(event_id))
    assert queued(delivery) == [11, 12]


def test_the_saved_cursor_never_passes_an_event_that_was_not_handled() -> None:
    store = MemoryCursorStore(10)
    delivery = Delivery(store)
    delivery.load()
    delivery.connected(10)
    for event_id in (11, 12, 13):
        delivery.event(ev(event_id))
    delivery.done(12)
    assert store.event_id == 10  # 11 is still being handled
    delivery.done(11)
    assert store.event_id == 12
    delivery.done(13)
    assert store.event_id == 13


def test_a_resume_delivers_replayed_and_live_events_once_in_order() -> None:
    store = MemoryCursorStore(5)
    delivery = Delivery(store)
    delivery.load()
    assert delivery.connected(9) == 5  # missed 6..9: resume after 5
    for event_id in (10, 6, 7, 9, 10):  # a live event arrives before the replay; the replay repeats it
        delivery.event(ev(event_id))
    assert queued(delivery) == []  # held until "resumed"
    delivery.resumed(10)
    assert queued(delivery) == [6, 7, 9, 10]
    delivery.event(ev(10))
    delivery.event(ev(11))
    assert queued(delivery) == [11]
    assert store.event_id == 5  # nothing handled yet
    for event_id in (6, 7, 9, 10, 11):
        delivery.done(event_id)
    assert store.event_id == 11


def test_a_frame_cursor_holds_the_resume_point_and_the_replay_skips_what_was_delivered_above_it() -> None:
    store = MemoryCursorStore(10)
    delivery = Delivery(store)
    delivery.load()
    delivery.connected(10)
    delivery.event(ev(11))
    # the server's broker is down: its own events come live, capped at the last one it could vouch for
    outage = list(range(13, 13 + 3 * RECENT_IDS, 3))  # more than the recent ids an LRU would keep
    for event_id in outage:
        delivery.event(ev(event_id), cursor=11)
    assert queued(delivery) == [11, *outage]
    for event_id in [11, *outage]:
        delivery.done(event_id)
    assert delivery.received == 11 and store.event_id == 11  # not past 12, which never came
    delivery.disconnected()  # 4009: the broker is back
    newest = outage[-1] + 1
    assert delivery.connected(newest) == 11
    for event_id in range(12, newest + 1):  # the replay: the missed events and the ones already delivered
        delivery.event(ev(event_id))
    delivery.resumed(newest)
    missed = sorted(set(range(12, newest + 1)) - set(outage))
    assert queued(delivery) == missed
    for event_id in missed:
        delivery.done(event_id)
    assert store.event_id == newest
    delivery.event(ev(newest + 1), cursor=3)  # a cursor below the one kept never moves it back
    assert delivery.received == newest


def test_a_resume_cut_short_starts_again_from_the_same_cursor() -> None:
    delivery = Delivery(MemoryCursorStore(5))
    delivery.load()
    assert delivery.connected(9) == 5
    delivery.event(ev(6))
    delivery.disconnected()
    assert delivery.connected(9) == 5
    delivery.event(ev(6))
    delivery.resumed(9)
    assert queued(delivery) == [6]


def test_an_empty_resume_moves_the_cursor_to_the_servers_horizon() -> None:
    store = MemoryCursorStore(5)
    delivery = Delivery(store)
    delivery.load()
    delivery.connected(9)
    delivery.resumed(9)  # 6..9 were not for this user
    assert store.event_id == 9 and delivery.received == 9


def test_a_cursor_ahead_of_the_server_follows_the_server() -> None:
    store = MemoryCursorStore(50)
    delivery = Delivery(store)
    delivery.load()
    assert delivery.connected(20) is None
    assert store.event_id == 20
    delivery.event(ev(21))
    assert queued(delivery) == [21]


def test_a_presence_frame_about_several_users_reaches_handlers_as_one_frame_a_user() -> None:
    delivery = Delivery(None)
    users = [{"user": 8, "status": "online"}, {"user": 12, "status": "offline"}]
    delivery.ephemeral({"type": "presence", "users": users})
    delivery.ephemeral({"type": "typing", "conversation": 4, "topic": None, "user": 8})
    items = [delivery.queue.get_nowait() for _ in range(delivery.queue.qsize())]
    assert items == [
        ("presence", {"type": "presence", "user": 8, "status": "online"}),
        ("presence", {"type": "presence", "user": 12, "status": "offline"}),
        ("typing", {"type": "typing", "conversation": 4, "topic": None, "user": 8}),
    ]


def test_file_cursor_store_round_trips_atomically(tmp_path: Path) -> None:
    store = FileCursorStore(tmp_path / "bot.cursor")
    assert store.load() is None
    store.save(41)
    store.save(42)
    assert store.load() == 42
    assert FileCursorStore(tmp_path / "bot.cursor").load() == 42
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.cursor"]  # no temporary file left behind


def test_file_cursor_store_refuses_a_file_that_is_not_a_cursor(tmp_path: Path) -> None:
    path = tmp_path / "bot.cursor"
    path.write_text("not a number\n")
    with pytest.raises(ValueError, match="does not hold a cursor"):
        FileCursorStore(path).load()


@pytest.mark.parametrize(
    ("url", "ws", "http"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/api/v1/ws", "http://127.0.0.1:8000"),
        ("https://chat.example.com/", "wss://chat.example.com/api/v1/ws", "https://chat.example.com"),
        ("https://example.com/salon", "wss://example.com/salon/api/v1/ws", "https://example.com/salon"),
        ("wss://example.com/api/v1/ws", "wss://example.com/api/v1/ws", "https://example.com"),
    ],
)
def test_server_urls(url: str, ws: str, http: str) -> None:
    assert ws_url_of(url) == ws and http_url_of(url) == http


def test_a_url_that_is_not_a_server_is_refused() -> None:
    with pytest.raises(ValueError, match="server URL"):
        ws_url_of("127.0.0.1:8000")

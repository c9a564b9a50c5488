"""Hold, replay, release: every event once, even one the replay read before it was published."""

from __future__ import annotations

from chat.realtime.connection import text_message
from chat.realtime.frames import event_frame
from chat.realtime.resumable import ResumableConnection
from tests.realtime.fakes import FakeSocket, make_event, settle


def live(event_id: int) -> dict[str, str]:
    return text_message(event_frame(make_event(event_id)).decode())  # type: ignore[return-value]


async def test_an_event_replayed_before_it_was_published_is_not_delivered_again() -> None:
    socket = FakeSocket()
    conn = ResumableConnection(socket.send, socket.close, queue_size=64)
    conn.start()
    socket.conn = conn
    conn.hold()
    conn.offer(live(21))  # reached the hub during the replay: held
    for replayed in (21, 22):  # the replay read 22 too: committed, not yet published
        conn.send_now(event_frame(make_event(replayed)).decode())
    conn.release(22)
    conn.offer(live(22))  # published after the release: replayed already
    conn.offer(live(23))
    conn.offer(live(24))
    await settle()
    assert socket.event_ids() == [21, 22, 23, 24]

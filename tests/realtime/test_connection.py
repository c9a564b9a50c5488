"""Connection: a bounded queue drained by its own writer; overflow closes with 4008, never waits."""

from __future__ import annotations

import asyncio

import pytest

from chat.realtime.connection import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_SLOW_CONSUMER,
    REASON_SLOW_CONSUMER,
    Connection,
    text_message,
)
from tests.realtime.fakes import FakeSocket, connection, settle


async def test_frames_reach_the_socket_in_the_order_offered() -> None:
    socket = FakeSocket()
    conn = connection(socket)
    for n in range(5):
        assert conn.offer(text_message(f'{{"n":{n}}}'))
    await settle()
    assert socket.frames == [f'{{"n":{n}}}' for n in range(5)]
    assert conn.pending == 0


async def test_send_now_encodes_compact_json_and_keeps_order_with_offers() -> None:
    socket = FakeSocket()
    conn = connection(socket)
    conn.offer(text_message('{"type":"event"}'))
    assert conn.send_now({"type": "ack", "id": "c7", "text": "héllo"})
    conn.send_now(b'{"type":"pong"}')  # JSON text as bytes (a replayed event frame) or str
    conn.send_now('{"type":"pong","n":2}')
    await settle()
    assert socket.frames == [
        '{"type":"event"}',
        '{"type":"ack","id":"c7","text":"héllo"}',
        '{"type":"pong"}',
        '{"type":"pong","n":2}',
    ]
    assert all(m["type"] == "websocket.send" for m in socket.messages)


async def test_the_writer_sends_everything_queued_in_one_wake_up() -> None:
    socket = FakeSocket()
    conn = connection(socket)
    await settle()  # the writer waits on the empty queue
    messages = [text_message(f"{n}") for n in range(5)]
    for message in messages:
        conn.offer(message)
    await asyncio.sleep(0)  # one turn of the loop: the writer wakes once and takes all five
    assert socket.messages == messages and all(a is b for a, b in zip(socket.messages, messages, strict=True))
    assert conn.pending == 0


async def test_a_full_queue_closes_with_4008_without_waiting() -> None:
    socket = FakeSocket(stuck=True)
    conn = connection(socket, queue_size=3)
    closed: list[Connection] = []
    conn.add_close_callback(closed.append)
    await settle()  # the writer takes nothing yet: the queue is empty

    accepted = [conn.offer(text_message(f"x{n}")) for n in range(6)]

    # The caller never yields, so three frames fill the queue and the fourth overflows.
    assert accepted == [True, True, True, False, False, False]
    assert conn.closed and conn.close_code == CLOSE_SLOW_CONSUMER
    assert closed == [conn]  # the hub is told at once, exactly once
    await asyncio.wait_for(conn.wait_closed(), timeout=5)
    assert socket.closed_with == (CLOSE_SLOW_CONSUMER, REASON_SLOW_CONSUMER)
    assert conn.pending == 0
    assert socket.frames == []


async def test_a_failing_send_closes_the_connection() -> None:
    socket = FakeSocket(fail=True)
    conn = connection(socket)
    closed: list[Connection] = []
    conn.add_close_callback(closed.append)
    conn.offer(text_message("x"))
    await asyncio.wait_for(conn.wait_closed(), timeout=5)
    assert closed == [conn]
    assert conn.close_code == CLOSE_INTERNAL_ERROR
    assert socket.closed_with == (CLOSE_INTERNAL_ERROR, "send failed")
    assert not conn.offer(text_message("y"))


async def test_graceful_close_sends_what_is_queued_then_the_close_frame() -> None:
    socket = FakeSocket()
    conn = connection(socket)
    conn.send_now({"type": "error", "id": "c1", "code": "bad_frame"})
    conn.offer(text_message("later"))
    await conn.close(1008, "policy")
    assert socket.frames == ['{"type":"error","id":"c1","code":"bad_frame"}', "later"]
    assert socket.closed_with == (1008, "policy")
    assert not conn.offer(text_message("after close"))


async def test_close_soon_drops_the_queue() -> None:
    socket = FakeSocket(stuck=True)
    conn = connection(socket)
    conn.offer(text_message("a"))
    conn.offer(text_message("b"))
    conn.close_soon(4003, "account deactivated")
    await asyncio.wait_for(conn.wait_closed(), timeout=5)
    assert socket.closed_with == (4003, "account deactivated")
    assert socket.frames == []


async def test_peer_closed_sends_no_close_frame() -> None:
    socket = FakeSocket()
    conn = connection(socket)
    closed: list[Connection] = []
    conn.add_close_callback(closed.append)
    conn.peer_closed(1001)
    await asyncio.wait_for(conn.wait_closed(), timeout=5)
    assert closed == [conn]
    assert socket.closed_with is None
    assert conn.close_code == 1001


async def test_a_close_that_hangs_or_fails_is_bounded_and_swallowed() -> None:
    async def hang(code: int, reason: str) -> None:
        await asyncio.Event().wait()

    async def fail(code: int, reason: str) -> None:
        raise RuntimeError("socket already gone")

    for close in (hang, fail):
        conn = Connection(FakeSocket().send, close, queue_size=4, close_timeout=0.01)
        conn.start()
        conn.close_soon(CLOSE_NORMAL)
        await asyncio.wait_for(conn.wait_closed(), timeout=5)


async def test_close_callbacks_run_once_even_when_registered_late() -> None:
    conn = connection(FakeSocket())
    calls: list[Connection] = []
    conn.add_close_callback(calls.append)
    conn.close_soon(CLOSE_NORMAL)
    conn.close_soon(CLOSE_SLOW_CONSUMER)  # a second decision is ignored
    conn.add_close_callback(calls.append)  # registered after closing: called at once
    await conn.wait_closed()
    assert calls == [conn, conn]
    assert conn.close_code == CLOSE_NORMAL


async def test_async_with_starts_and_closes_normally() -> None:
    socket = FakeSocket()
    async with Connection(socket.send, socket.close, queue_size=4) as conn:
        conn.send_now({"type": "hello"})
        await settle()
    assert socket.decoded() == [{"type": "hello"}]
    assert socket.closed_with == (CLOSE_NORMAL, "")


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        Connection(FakeSocket().send, FakeSocket().close, queue_size=0)

"""Test doubles for the realtime layer: sockets that record, stall or fail; a broker with gaps."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from chat.domain.events import Audience, Event
from chat.realtime.broker import MemoryBroker, OnGap, OnMessage
from chat.realtime.connection import Connection, WireMessage

WHEN = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


class FakeSocket:
    """What a websocket looks like to ``Connection``: ``send`` and ``close`` coroutines.

    ``stuck=True``: ``send`` never returns, like a client whose TCP window is full.
    ``fail=True``: ``send`` raises, like a peer that vanished.
    """

    conn: Connection  # set by connection()

    def __init__(self, *, stuck: bool = False, fail: bool = False) -> None:
        self.messages: list[WireMessage] = []  # the ASGI messages as handed over (objects, not copies)
        self.closed_with: tuple[int, str] | None = None
        self.stuck = stuck
        self.fail = fail

    async def send(self, message: WireMessage) -> None:
        if self.fail:
            raise ConnectionResetError("peer vanished")
        if self.stuck:
            await asyncio.Event().wait()
        self.messages.append(message)

    @property
    def frames(self) -> list[str]:
        """The text of every frame sent, in order."""
        assert all(m["type"] == "websocket.send" for m in self.messages)
        return [m["text"] for m in self.messages]

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    def decoded(self) -> list[dict[str, Any]]:
        return [json.loads(frame) for frame in self.frames]

    def event_ids(self) -> list[int]:
        return [f["event"]["id"] for f in self.decoded() if f["type"] == "event"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.decoded() if f["type"] == kind]

    def presence(self) -> list[list[tuple[int, str]]]:
        """Each presence frame as its (user, status) pairs."""
        return [[(u["user"], u["status"]) for u in f["users"]] for f in self.of_type("presence")]

    def statuses(self) -> dict[int, str]:
        """What the presence frames say in the end: user -> status."""
        return {user: status for frame in self.presence() for user, status in frame}


def connection(socket: FakeSocket, *, queue_size: int = 64, close_timeout: float = 5.0) -> Connection:
    conn = Connection(socket.send, socket.close, queue_size=queue_size, close_timeout=close_timeout)
    conn.start()
    socket.conn = conn
    return conn


async def settle(rounds: int = 50) -> None:
    """Let writer tasks and spawned publishes run (no real I/O involved: a few loop turns)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def make_event(
    id: int,
    kind: str = "message.posted",
    *,
    conversation: int | None = 1,
    audience: Audience = "members",
    subject: int | None = None,
    members: tuple[int, ...] | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    return Event(
        id=id,
        conversation=conversation,
        seq=id,
        kind=kind,
        actor=1,
        data=data if data is not None else {"n": id},
        created_at=WHEN,
        audience=audience,
        subject_id=subject,
        members=members,
    )


class GappyBroker(MemoryBroker):
    """An in-process broker whose test can declare an outage (``down``, then ``gap()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.gap_callbacks: list[OnGap] = []
        self.down = False  # the other processes are out of reach: ``connected`` is False

    @property
    def connected(self) -> bool:
        return super().connected and not self.down

    def subscribe(self, on_message: OnMessage, on_gap: OnGap | None = None) -> None:
        super().subscribe(on_message, on_gap)
        if on_gap is not None:
            self.gap_callbacks.append(on_gap)

    def gap(self) -> None:
        for callback in self.gap_callbacks:
            callback()

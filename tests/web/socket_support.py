"""Websocket clients for tests against the ``live`` server: a reader per socket, replies by id, a barrier.

A :class:`Peer` reads its socket in the background and keeps every frame in
``log``, in arrival order, so a test can both wait for a reply and later ask
what else arrived. :func:`observe` answers "who received what" without waiting
for silence: after the action under test, a *barrier* message is posted in a
private group every observed user belongs to. Each connection's frames are
delivered in the order the server published them, so whatever a user
receives before the barrier is everything the action sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from chat.domain.actors import Actor
from chat.store.db import Database
from tests.channels.messaging_support import post
from tests.conftest import Live

Frame = dict[str, Any]

WAIT_S = 10.0  # upper bound for a frame that must come; never a timing assertion

_ids = itertools.count(1)


def next_id() -> str:
    return f"f{next(_ids)}"


class Peer:
    """One websocket client; ``log`` holds every frame received, in order (``hello`` first)."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.log: list[Frame] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._read(), name=f"peer {name}")

    @property
    def hello(self) -> Frame:
        return self.log[0]

    async def _read(self) -> None:
        try:
            while True:
                raw = await self.ws.recv()
                frame: Frame = json.loads(raw)
                async with self._changed:
                    self.log.append(frame)
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, match: Callable[[Frame], bool], *, start: int = 0, wait_s: float = WAIT_S) -> Frame:
        """The first frame from ``log[start:]`` that ``match``es, waiting for it if needed."""

        def found() -> Frame | None:
            return next((f for f in self.log[start:] if match(f)), None)

        async with asyncio.timeout(wait_s), self._changed:
            while (frame := found()) is None:
                if self.closed.is_set():
                    raise AssertionError(f"{self.name}: socket closed ({self.close_code}) before the frame came")
                await self._changed.wait()
        return frame

    async def send(self, frame: Mapping[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def reply(self, frame_id: object, *, start: int = 0) -> Frame:
        """The ``ack``, ``error`` or ``resumed`` frame that answers ``frame_id``."""
        return await self.wait_for(
            lambda f: f["type"] in ("ack", "error", "resumed") and f.get("id") == frame_id, start=start
        )

    async def request(self, type_: str, **fields: Any) -> Frame:
        """Send a frame (with a fresh ``id`` unless one is given) and return its answer."""
        frame_id = fields.pop("id", None) or next_id()
        start = len(self.log)
        await self.send({"type": type_, "id": frame_id, **fields})
        return await self.reply(frame_id, start=start)

    def events(self, start: int = 0, end: int | None = None) -> list[Frame]:
        """The ``event`` payloads received in ``log[start:end]``."""
        return [f["event"] for f in self.log[start:end] if f["type"] == "event"]

    async def wait_closed(self, wait_s: float = WAIT_S) -> int | None:
        async with asyncio.timeout(wait_s):
            await self.closed.wait()
        return self.close_code

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        await asyncio.wait({self._task}, timeout=WAIT_S)


@dataclass
class Connector:
    """Opens authenticated sockets to the ``live`` server and closes them after the test."""

    live: Live
    peers: list[Peer] = field(default_factory=list)
    tokens: dict[int, str] = field(default_factory=dict)

    async def token(self, actor: Actor) -> str:
        if actor.id not in self.tokens:
            self.tokens[actor.id] = await self.live.token(actor)
        return self.tokens[actor.id]

    async def raw(self, actor: Actor, **options: Any) -> ClientConnection:
        """A connected socket whose ``hello`` has not been read; the caller closes it."""
        headers = {"Authorization": f"Bearer {await self.token(actor)}"}
        return await websockets.connect(self.live.ws_url, additional_headers=headers, **options)

    async def __call__(self, actor: Actor, *, name: str | None = None, **options: Any) -> Peer:
        """A connected :class:`Peer` (named ``name`` or the username) whose ``hello`` has arrived."""
        peer = Peer(await self.raw(actor, **options), name or actor.username)
        self.peers.append(peer)
        await peer.wait_for(lambda f: f["type"] == "hello")
        return peer

    async def close_all(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers))


@contextlib.asynccontextmanager
async def connector(live: Live) -> AsyncIterator[Connector]:
    """For each test module's ``connect`` fixture: every socket opened is closed at the end."""
    opened = Connector(live)
    try:
        yield opened
    finally:
        await opened.close_all()


@dataclass(frozen=True)
class Barrier:
    """A private group shared by every observed user, and who posts the barrier messages in it."""

    db: Database
    conversation: int
    poster: Actor

    async def observe(self, peers: Iterable[Peer], action: Callable[[], Awaitable[Any]]) -> dict[str, list[Frame]]:
        """Run ``action``; return, per peer name, the events it received because of it.

        A first barrier flushes what earlier actions sent; a second one ends the window.
        A peer whose socket closes before the barrier reaches it returns what it got until then.
        """
        frames = await self.observe_frames(peers, action)
        return {name: [f["event"] for f in got if f["type"] == "event"] for name, got in frames.items()}

    async def observe_frames(
        self, peers: Iterable[Peer], action: Callable[[], Awaitable[Any]]
    ) -> dict[str, list[Frame]]:
        """Like :meth:`observe`, but every frame (``typing``, ``presence``, replies …), not only events."""
        peers = list(peers)
        marks = await self.sync(peers)
        await action()
        ends = await self.sync(peers, marks)
        return {p.name: p.log[marks[p.name] : ends[p.name] - 1] for p in peers}

    async def sync(self, peers: list[Peer], start: Mapping[str, int] | None = None) -> dict[str, int]:
        """Post a barrier message; per peer, the log position just after it (or the log's end if closed)."""
        barrier = await post(self.db, self.poster, self.conversation, body=f"barrier {next_id()}", topic="barrier")
        ends: dict[str, int] = {}
        for peer in peers:
            ends[peer.name] = len(peer.log) + 1  # closed: everything it got counts
            with contextlib.suppress(AssertionError):
                seen = await peer.wait_for(lambda f: _is_post_of(f, barrier.id), start=(start or {}).get(peer.name, 0))
                ends[peer.name] = next(i for i, f in enumerate(peer.log) if f is seen) + 1
        return ends


def _is_post_of(frame: Frame, message_id: int) -> bool:
    if frame["type"] != "event" or frame["event"]["kind"] != "message.posted":
        return False
    return bool(frame["event"]["data"]["message"]["id"] == message_id)


def kinds(events: Iterable[Frame]) -> list[tuple[str, int | None]]:
    """(kind, conversation) of each event: what a recipient assertion compares."""
    return [(e["kind"], e["conversation"]) for e in events]

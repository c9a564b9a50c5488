"""Helpers for the bot tests: a TCP proxy that can keep a bot away, and a watcher of a conversation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from chat.bot import Bot, Event


async def poll(condition: Callable[[], Awaitable[bool]], what: str, wait_s: float = 30) -> None:
    """Wait until ``condition()`` is true (for outside facts no event tells us about)."""
    for _ in range(int(wait_s / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Proxy:
    """A TCP proxy between a bot and the server, in the test's event loop.

    ``refuse``: new connections are closed at once (the bot stays away even when the
    server is up). ``swallow``: bytes from the server are dropped (acks get lost).
    ``cut()``: abort every open connection.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.refuse = False
        self.swallow = False
        self.connections = 0  # accepted and forwarded
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(self._pump(reader, up_writer, False), self._pump(up_reader, writer, True))
        finally:
            self._open -= {writer, up_writer}

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_server: bool) -> None:
        try:
            while data := await src.read(65536):
                if from_server and self.swallow:
                    continue
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.transport.abort()  # one side gone: the other goes too


class Watcher:
    """Every ``message.posted`` of a user's conversations, seen through that user's own Bot."""

    def __init__(self, url: str, token: str) -> None:
        self.bot = Bot(url, token, backoff_initial_s=0.05, backoff_max_s=0.5)
        self.messages: list[dict[str, Any]] = []  # the event's message, with its "body"
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.bot.on("message.posted")(self._record)

    async def _record(self, event: Event) -> None:
        self.messages.append({**event["data"]["message"], "body": event["data"].get("body")})
        self._changed.set()

    async def __aenter__(self) -> Watcher:
        await self.bot.start()
        self._task = asyncio.create_task(self.bot.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.bot.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def wait_for(self, found: Callable[[dict[str, Any]], bool], wait_s: float = 30) -> dict[str, Any]:
        """The first message for which ``found`` is true, waiting for it if need be."""
        async with asyncio.timeout(wait_s):
            while True:
                for message in self.messages:
                    if found(message):
                        return message
                self._changed.clear()
                await self._changed.wait()

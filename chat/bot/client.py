"""A Python client for Salon's bot API (the websocket protocol of docs/protocol.md).

::

    bot = Bot("http://127.0.0.1:8000", token, cursor_store=FileCursorStore("bot.cursor"))

    @bot.on("message.posted")
    async def greet(event: Event) -> None: ...

    async with bot:
        await bot.post(conversation_id, "hello", topic="greetings")
        await bot.run()  # handlers, until bot.close()

One background task owns the socket. It reads ``hello``, resumes from the
cursor, sends an (optional) ``ping`` frame every ``heartbeat_s`` to check that the
server still handles frames (the websocket library answers the server's
protocol pings by itself, which is what keeps the connection open) and, when
the connection drops (network, ``kill -9``, close codes 1001, 1012, 4008, 4009
…), reconnects with exponential backoff and full jitter, then resumes from its
cursor: the newest event id received, or the event frame's ``cursor`` when the
server sends one (while its broker is down), so the replay brings what the server
could not deliver. Events reach handlers (``run``) or the iterator (``events``)
once each, in order, deduplicated by id.

Requests (``post``, ``edit`` …) wait for their ``ack`` and raise ``BotError``
on an ``error`` frame. A request that has no answer when the connection drops
is sent again after the reconnect: ``post`` with the same nonce, so the server
stores one message; the other frames are idempotent. ``typing`` is dropped.

The cursor saved in the ``CursorStore`` is the newest event id below which
every event was *handled* (its handlers returned, or the iterator was asked
for the next one), so a bot restarted later resumes where it stopped. Across a
reconnect delivery is exactly once; across a crash of the bot itself it is at
least once (the event being handled when it died comes again).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import logging
import mimetypes
import os
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chat.bot import rest
from chat.bot.cursor import CursorStore
from chat.bot.delivery import Delivery, Event, Item
from chat.bot.errors import BotError

Handler = Callable[[Event], Awaitable[None]]

log = logging.getLogger("chat.bot")

# Close codes after which reconnecting cannot help (docs/protocol.md); every other one means "reconnect, resume".
FATAL_CLOSE = {4001: "not_authenticated", 4003: "deactivated"}
# Handshake refusals a retry cannot fix; others (429 too many connections, 5xx) are retried with backoff.
FATAL_STATUS = {401: "not_authenticated", 403: "origin_not_allowed"}
EPHEMERAL = frozenset({"typing", "presence"})


@dataclass
class _Request:
    frame: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]
    resend: bool  # send again after a reconnect (everything but typing and ping)
    sent_on: ClientConnection | None = None


class Bot:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        cursor_store: CursorStore | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_frame_bytes: int = 65536,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.ws_url = rest.ws_url_of(url)
        self.http_url = rest.http_url_of(url)
        self.user: dict[str, Any] = {}  # from hello: id, username, display_name, role, is_bot
        self.reconnects = 0  # connections opened after the first one
        self._token = token
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._max_frame_bytes = max_frame_bytes
        self._open_timeout = open_timeout_s
        self._handlers: list[tuple[str, Handler]] = []
        self._delivery = Delivery(cursor_store)
        self._requests: dict[int, _Request] = {}
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()  # a connection is open, hello read, resume sent
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._fatal: BotError | None = None
        self._resume_id = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Bot:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect (retrying network errors with backoff) and return once ``hello`` is read.

        Raises ``BotError`` if the server refuses the token (``not_authenticated``).
        """
        if self._task is not None:
            return
        self._delivery.load()
        self._task = asyncio.create_task(self._supervise(), name="chat.bot connection")
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise self._fatal or BotError("closed", "the bot was closed before it connected")

    async def close(self) -> None:
        """Close the socket, stop reconnecting, fail waiting requests with ``closed``, end ``run``/``events``."""
        self._closing = True
        ws, task = self._ws, self._task
        if ws is not None:
            await ws.close()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._delivery.persist()

    @property
    def last_event_id(self) -> int | None:
        """The newest event id received (what the next reconnect resumes after)."""
        return self._delivery.received

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    # --- receiving ---------------------------------------------------------------------------

    def on(self, kind: str) -> Callable[[Handler], Handler]:
        """Decorator: call ``handler(event)`` for events of ``kind`` (``fnmatch`` patterns: ``message.*``).

        ``typing`` and ``presence`` receive those ephemeral frames (never stored, never resumed).
        """

        def register(handler: Handler) -> Handler:
            self._handlers.append((kind, handler))
            return handler

        return register

    def on_event(self, handler: Handler) -> Handler:
        """Decorator: call ``handler(event)`` for every event."""
        return self.on("*")(handler)

    async def events(self) -> AsyncIterator[Event]:
        """Every event, once and in order; an event counts as handled when you ask for the next one.

        Ends when the bot is closed; raises ``BotError`` if the server ended the session for good.
        Use either this or ``run`` (they share one stream).
        """
        async for kind, item in self._items():
            if kind == "event":
                yield item
                self._delivery.done(int(item["id"]))

    async def run(self) -> None:
        """Call the handlers for each event, one event at a time, until the bot is closed.

        A handler that raises is logged and the next event goes on; long work belongs in a task.
        """
        started_here = self._task is None
        await self.start()
        try:
            async for kind, item in self._items():
                name = str(item["kind"]) if kind == "event" else kind
                for handler in self._handlers_for(kind, name):
                    try:
                        await handler(item)
                    except Exception:
                        log.exception("handler %s failed on %s", getattr(handler, "__name__", handler), name)
                if kind == "event":
                    self._delivery.done(int(item["id"]))
        finally:
            if started_here:
                await self.close()

    def _handlers_for(self, kind: str, name: str) -> list[Handler]:
        if kind != "event":  # ephemeral frames reach only the handlers registered for them by name
            return [handler for pattern, handler in self._handlers if pattern == kind]
        return [handler for pattern, handler in self._handlers if fnmatch.fnmatchcase(name, pattern)]

    async def _items(self) -> AsyncIterator[Item]:
        queue = self._delivery.queue
        while True:
            item = await queue.get()
            if item is None:
                queue.put_nowait(None)  # other consumers end too
                if self._fatal is not None:
                    raise self._fatal
                return
            yield item

    # --- requests ----------------------------------------------------------------------------

    async def post(
        self,
        conversation: int,
        body: str = "",
        topic: str | None = None,
        nonce: str | None = None,
        attachments: Sequence[int] = (),
    ) -> dict[str, Any]:
        """Post a message; returns the stored message (``id``, ``seq``, ``html``, ``attachments`` …) once acked.

        ``nonce`` (generated when not given) makes retries safe: the same nonce stores one message.
        ``attachments``: ids from ``upload``, in the order to show them (the body may be empty then).
        """
        frame: dict[str, Any] = {"conversation": conversation, "body": body, "nonce": nonce or uuid.uuid4().hex}
        if topic is not None:
            frame["topic"] = topic
        if attachments:
            frame["attachments"] = list(attachments)
        ack = await self.request("post", **frame)
        message: dict[str, Any] = ack["message"]
        return message

    async def edit(self, message: int, body: str) -> dict[str, Any]:
        ack = await self.request("edit", message=message, body=body)
        edited: dict[str, Any] = ack["message"]
        return edited

    async def delete(self, message: int, reason: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"message": message}
        if reason is not None:
            fields["reason"] = reason
        ack = await self.request("delete", **fields)
        deleted: dict[str, Any] = ack["message"]
        return deleted

    async def react(self, message: int, emoji: str) -> dict[str, Any]:
        reaction: dict[str, Any] = (await self.request("react", message=message, emoji=emoji))["reaction"]
        return reaction

    async def unreact(self, message: int, emoji: str) -> dict[str, Any]:
        reaction: dict[str, Any] = (await self.request("unreact", message=message, emoji=emoji))["reaction"]
        return reaction

    async def read(self, conversation: int, up_to_message_id: int, topic: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"conversation": conversation, "up_to_message_id": up_to_message_id}
        if topic is not None:
            fields["topic"] = topic
        state: dict[str, Any] = (await self.request("read", **fields))["read"]
        return state

    async def typing(self, conversation: int, topic: str | None = None) -> None:
        """Tell the others you are typing (ephemeral: dropped, not retried, while disconnected)."""
        fields: dict[str, Any] = {"conversation": conversation}
        if topic is not None:
            fields["topic"] = topic
        await self.request("typing", resend=False, **fields)

    async def upload(
        self, file: str | os.PathLike[str] | bytes, *, name: str | None = None, content_type: str | None = None
    ) -> int:
        """Upload a file (a path, or the bytes themselves) over REST; returns the upload id for ``post``.

        ``name`` defaults to the file's name (required with bytes); ``content_type`` to a guess from
        the name (the server decides the stored type from the content anyway). Over the size limit
        or the quota raises ``BotError`` (``http_413``, ``quota_exceeded``, ``file_rejected`` …).
        """
        if isinstance(file, bytes):
            if not name:
                raise ValueError("name= is required when uploading bytes")
            data = file
        else:
            path = Path(file)
            data = await asyncio.to_thread(path.read_bytes)
            name = name or path.name
        kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        answer = await asyncio.to_thread(rest.upload, self.http_url, self._token, data, name, kind)
        return int(answer["id"])

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        """A REST call with the bot's token, e.g. ``await bot.api("GET", "/conversations/4/members")``."""
        return await asyncio.to_thread(rest.call, self.http_url, self._token, method, path, body)

    async def request(self, type_: str, *, resend: bool = True, **fields: Any) -> dict[str, Any]:
        """Send any client frame and wait for its ``ack`` (returned whole); ``BotError`` on ``error``.

        Waits through reconnects; a frame with ``resend=False`` is dropped instead (answer ``{}``).
        """
        if self._closing or self._fatal is not None:
            raise self._fatal or BotError("closed", "the bot is closed")
        if self._task is None:
            raise BotError("not_started", "connect first: `async with bot:` or `await bot.start()`")
        frame_id = next(self._ids)
        frame = {"type": type_, "id": frame_id, **fields}
        size = len(json.dumps(frame, ensure_ascii=False).encode())
        if size > self._max_frame_bytes:
            raise BotError("frame_too_large", f"the frame is {size} bytes, the limit is {self._max_frame_bytes}")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        req = self._requests[frame_id] = _Request(frame, future, resend)
        try:
            ws = self._ws
            if ws is not None and self._ready.is_set():
                await self._send(ws, req)
            elif not resend:
                return {}
            return await future
        finally:
            del self._requests[frame_id]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a late failure after a cancel is not "never retrieved"

    async def _send(self, ws: ClientConnection, req: _Request) -> None:
        req.sent_on = ws
        with contextlib.suppress(ConnectionClosed):  # sent again on the next connection
            await ws.send(json.dumps(req.frame, ensure_ascii=False))

    # --- the connection ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                try:
                    ws = await connect(
                        self.ws_url,
                        additional_headers={"Authorization": f"Bearer {self._token}"},
                        open_timeout=self._open_timeout,
                        ping_interval=None,  # the server pings (answered by websockets); we send ping frames
                        close_timeout=2,
                        max_size=None,
                    )
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    if status in FATAL_STATUS:
                        raise _refused(status, bytes(exc.response.body or b"")) from None
                    log.warning("the server refused the connection (HTTP %s); retrying", status)
                except (OSError, TimeoutError, InvalidHandshake) as exc:
                    log.warning("cannot connect to %s: %s; retrying", self.ws_url, exc or type(exc).__name__)
                else:
                    if await self._serve(ws):
                        attempt = 0
                delay = random.uniform(0, min(self._backoff[1], self._backoff[0] * 2**attempt))  # noqa: S311
                attempt += 1
                await asyncio.sleep(delay)
        except BotError as exc:
            self._fatal = exc
            log.error("the server ended the bot's session: %s", exc)
        except Exception as exc:  # a frame this client does not understand: stop loudly, not in a loop
            log.exception("the bot's connection failed")
            self._fatal = BotError("internal_error", f"the client failed: {exc!r}")
        finally:
            self._ready.clear()
            self._ws = None
            error = self._fatal or BotError("closed", "the bot was closed")
            for req in list(self._requests.values()):
                if not req.future.done():
                    req.future.set_exception(error)
            self._delivery.end()

    async def _serve(self, ws: ClientConnection) -> bool:
        """Run one connection until it closes; True if it got as far as ``hello``."""
        greeted = False
        heartbeat: asyncio.Task[None] | None = None
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), self._open_timeout))
            if not isinstance(hello, dict) or hello.get("type") != "hello":
                log.warning("expected hello, got %.200r; reconnecting", hello)
                return False
            greeted = True
            self._ws = ws
            await self._on_hello(ws, hello)
            heartbeat = asyncio.create_task(self._heartbeat(ws, float(hello.get("heartbeat_s") or 25)))
            async for raw in ws:
                frame = json.loads(raw)
                if isinstance(frame, dict):
                    await self._on_frame(ws, frame)
        except (ConnectionClosed, TimeoutError, ValueError) as exc:
            if not isinstance(exc, ConnectionClosed):
                log.warning("connection failed: %r", exc)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            self._ready.clear()
            self._ws = None
            self._delivery.disconnected()
            for req in list(self._requests.values()):
                if req.sent_on is ws and not req.resend and not req.future.done():
                    req.future.set_result({})  # typing, ping: pointless after a reconnect
            await ws.close()
        code = ws.close_code
        if code in FATAL_CLOSE and not self._closing:
            raise BotError(FATAL_CLOSE[code], ws.close_reason or "the server closed the session")
        if not self._closing:
            log.info("connection closed (%s %s); reconnecting", code, ws.close_reason or "")
        return greeted

    async def _on_hello(self, ws: ClientConnection, hello: dict[str, Any]) -> None:
        if self.user:
            self.reconnects += 1
        self.user = dict(hello.get("user") or {})
        after = self._delivery.connected(int(hello["last_event_id"]))
        if after is not None:
            self._resume_id = f"resume-{next(self._ids)}"
            await ws.send(json.dumps({"type": "resume", "id": self._resume_id, "after": after}))
        self._ready.set()
        for req in sorted(self._requests.values(), key=lambda r: int(r.frame["id"])):
            if req.sent_on is not ws and not req.future.done():
                await self._send(ws, req)

    async def _heartbeat(self, ws: ClientConnection, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.wait_for(self.request("ping", resend=False), every_s)
            except TimeoutError:
                log.warning("no answer to ping within %ss; reconnecting", every_s)
                await ws.close(1001, "no heartbeat")
                return

    async def _on_frame(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            cursor = frame.get("cursor")  # during a server's broker outage: keep this, not the event's id
            self._delivery.event(frame["event"], cursor if isinstance(cursor, int) else None)
        elif kind in ("ack", "error"):
            req = self._requests.get(frame["id"]) if isinstance(frame.get("id"), int) else None
            if req is not None and not req.future.done():
                if kind == "ack":
                    req.future.set_result(frame)
                else:
                    data = {k: v for k, v in frame.items() if k not in ("type", "id", "code", "message")}
                    req.future.set_exception(BotError(str(frame.get("code")), str(frame.get("message")), **data))
            elif kind == "error":
                log.warning("error frame from the server: %s", frame)
                if self._delivery.resuming and frame.get("id") == self._resume_id:
                    await ws.close(1000, "resume failed; reconnecting")
        elif kind == "resumed":
            self._delivery.resumed(int(frame["last_event_id"]))
        elif kind in EPHEMERAL:
            self._delivery.ephemeral(frame)


def _refused(status: int, body: bytes) -> BotError:
    try:
        error = json.loads(body)["error"]
        return BotError(str(error["code"]), str(error["message"]), status=status)
    except (ValueError, KeyError, TypeError):
        return BotError(FATAL_STATUS[status], f"the server refused the connection (HTTP {status})", status=status)

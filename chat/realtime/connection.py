"""One client socket: a bounded queue and its own writer task.

The hub never awaits a socket. It calls :meth:`Connection.offer`, a
``put_nowait`` into the connection's bounded queue, and moves on; the
connection's writer task drains the queue into the socket at whatever pace the
client reads. A client that stops reading fills its queue, and the next offer
closes that socket alone with :data:`CLOSE_SLOW_CONSUMER` ("slow consumer,
resume"): the client reconnects and resumes from the event log, the others
never notice.

What is queued is a :data:`WireMessage`: the ASGI message ``{"type":
"websocket.send", "text": frame}`` (text frames, what browsers expect for
JSON), built by :func:`text_message`. The hub builds **one** per event and
queues that same object to every recipient, so fanning an event out to N
sockets serialises nothing N times: the writer hands the message as it is to
``send``. ``Connection`` knows nothing about Starlette: it wraps two coroutine
functions, ``send(message)`` and ``close(code, reason)``; the websocket layer
passes the ASGI ``send`` callable (``chat.web.socket``), tests pass a recorder.

The writer drains everything queued per wake-up: a burst of frames costs one
task switch, not one per frame. ``send`` is only called between the start and
the close: every way of closing stops the writer before the close frame goes.

Lifecycle::

    async with Connection(send, close, queue_size=settings.ws_queue_size) as conn:
        hub.attach(conn, user_id=..., role=..., conversation_ids=..., as_of=...)
        ...read loop; conn.send_now(ack) for replies...
        # on the peer's disconnect: conn.peer_closed()
    # leaving the block closes (1000) if still open, and waits for the writer.

Every way of closing (overflow, writer failure, :meth:`close_soon`,
:meth:`close`, :meth:`peer_closed`) runs the close callbacks exactly once, at
once, so the hub forgets the connection before anything else is delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

from chat.validation import encode

log = logging.getLogger(__name__)

# {"type": "websocket.send", "text": frame}: built once, shared by every recipient, never mutated
WireMessage = dict[str, str]
SendFn = Callable[[WireMessage], Awaitable[None]]
CloseFn = Callable[[int, str], Awaitable[None]]
CloseCallback = Callable[["Connection"], None]

# Close codes used by the realtime layer (docs/protocol.md lists them).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server is shutting down; reconnect and resume
CLOSE_INTERNAL_ERROR = 1011  # writing to the socket failed, or the server failed handling it
# the credential the socket was opened with ended (logout, token revoked, password changed
# elsewhere); authenticate again, do not reconnect with the same credential
CLOSE_CREDENTIAL_REVOKED = 4001
CLOSE_DEACTIVATED = 4003  # the account was deactivated; do not reconnect
CLOSE_SLOW_CONSUMER = 4008  # the client did not read fast enough; reconnect and resume
CLOSE_RESYNC = 4009  # the server may have missed events (broker reconnected); reconnect and resume

REASON_SLOW_CONSUMER = "slow consumer, resume"


def text_message(frame: str) -> WireMessage:
    """The ASGI message that sends ``frame`` (JSON text) as one websocket text frame."""
    return {"type": "websocket.send", "text": frame}


class Connection:
    """A socket seen through its bounded outgoing queue."""

    def __init__(
        self,
        send: SendFn,
        close: CloseFn,
        *,
        queue_size: int = 256,
        close_timeout: float = 5.0,
        label: str = "",
    ) -> None:
        if queue_size <= 0:
            raise ValueError("queue_size must be positive")
        self._send = send
        self._close = close
        self._close_timeout = close_timeout
        self.label = label  # for logs: e.g. "user 7 from 10.0.0.3"
        self._queue: asyncio.Queue[WireMessage] = asyncio.Queue(maxsize=queue_size)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._callbacks: list[CloseCallback] = []
        self._done = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer task (``async with`` does it for you)."""
        if self._writer is None and not self.closed:
            self._writer = asyncio.get_running_loop().create_task(self._write(), name=f"ws-writer {self.label}")

    async def __aenter__(self) -> Connection:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.closed:
            self.close_soon(CLOSE_NORMAL if exc is None else CLOSE_INTERNAL_ERROR, "")
        await self.wait_closed()

    def add_close_callback(self, callback: CloseCallback) -> None:
        """Call ``callback(self)`` once when the connection starts closing (at once if it has)."""
        if self.closed:
            callback(self)
        else:
            self._callbacks.append(callback)

    @property
    def closed(self) -> bool:
        """True from the moment a close was decided: no more frames are accepted."""
        return self.close_code is not None

    @property
    def pending(self) -> int:
        """Frames queued and not yet handed to the socket."""
        return self._queue.qsize()

    # -- sending -----------------------------------------------------------------------------

    def offer(self, message: WireMessage) -> bool:
        """Queue ``message`` (see :func:`text_message`) without waiting. False if the connection
        is (now) closed.

        A full queue closes the connection with :data:`CLOSE_SLOW_CONSUMER`.
        """
        if self.closed:
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("closing slow websocket %s (%d frames queued)", self.label, self._queue.qsize())
            self.close_soon(CLOSE_SLOW_CONSUMER, REASON_SLOW_CONSUMER)
            return False
        return True

    def offer_if_room(self, message: WireMessage) -> bool:
        """Queue a best-effort frame (typing, presence) only while the queue is at most half
        full; otherwise drop it. Never closes the connection: such frames are never stored,
        so losing one costs nothing that matters, and events keep the room they need."""
        if self.closed or self._queue.qsize() * 2 >= self._queue.maxsize:
            return False
        self._queue.put_nowait(message)
        return True

    def send_now(self, frame: str | bytes | Mapping[str, Any]) -> bool:
        """Queue a direct reply (ack, error, hello…) behind what is already queued, so
        the client sees frames in the order the server produced them: a frame (a mapping,
        encoded here) or its JSON text. Never waits; same overflow rule as :meth:`offer`."""
        return self.offer(text_message(frame_text(frame)))

    # -- closing -----------------------------------------------------------------------------

    def close_soon(self, code: int, reason: str = "") -> None:
        """Close now without waiting: drop what is queued, send the close frame in the background."""
        if self._begin_close(code, reason):
            self._closer = asyncio.get_running_loop().create_task(self._shutdown(send_close=True))

    def peer_closed(self, code: int = CLOSE_NORMAL) -> None:
        """The client went away (the read loop saw a disconnect): stop writing, send nothing."""
        if self._begin_close(code, "closed by peer"):
            self._closer = asyncio.get_running_loop().create_task(self._shutdown(send_close=False))

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Close gracefully: let the writer send what is queued (up to ``close_timeout``),
        then send the close frame."""
        if not self._begin_close(code, reason):
            await self.wait_closed()
            return
        writer = self._writer
        if writer is not None and not writer.done():
            drained = asyncio.ensure_future(self._queue.join())
            await asyncio.wait({drained, writer}, timeout=self._close_timeout, return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()
        await self._shutdown(send_close=True)

    async def wait_closed(self) -> None:
        """Wait until the writer has stopped and the close frame (if any) was sent."""
        await self._done.wait()

    def _begin_close(self, code: int, reason: str) -> bool:
        if self.closed:
            return False
        self.close_code = code
        self.close_reason = reason
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("close callback of websocket %s failed", self.label)
        return True

    async def _shutdown(self, *, send_close: bool) -> None:
        try:
            writer = self._writer
            if writer is not None and writer is not asyncio.current_task():
                writer.cancel()
                await asyncio.wait({writer})
            while not self._queue.empty():  # drop what the client will get by resuming
                self._queue.get_nowait()
                self._queue.task_done()
            if send_close:
                try:
                    async with asyncio.timeout(self._close_timeout):
                        await self._close(self.close_code or CLOSE_NORMAL, self.close_reason)
                except Exception as exc:
                    log.debug("closing websocket %s failed: %r", self.label, exc)
        finally:
            self._done.set()

    async def _write(self) -> None:
        """Wait for a frame, then send everything queued without waiting again: ``send``
        returns at once while the transport takes data, so a burst costs one wake-up."""
        queue, send = self._queue, self._send
        while True:
            message = await queue.get()
            while True:
                try:
                    await send(message)
                except Exception as exc:
                    log.info("writing to websocket %s failed: %r", self.label, exc)
                    self.close_soon(CLOSE_INTERNAL_ERROR, "send failed")
                    return
                finally:
                    queue.task_done()
                if queue.empty():
                    break
                message = queue.get_nowait()


def frame_text(frame: str | bytes | Mapping[str, Any]) -> str:
    """A frame's JSON text: a mapping is encoded (compact JSON), bytes decoded (UTF-8)."""
    if isinstance(frame, str):
        return frame
    return (frame if isinstance(frame, bytes) else encode(frame)).decode()

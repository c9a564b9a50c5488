"""Brokers carry opaque payloads (bytes) from the publishing process to every hub.

A broker is chosen by URL (:func:`broker_from_url`):

* ``memory://`` — :class:`MemoryBroker`: one process, delivery is a direct call.
* ``redis://host:port/db`` (or ``rediss://``) — :class:`RedisBroker`: Redis
  pub/sub on one channel, so several server processes sharing a database see
  each other's events.

Delivery is **at-most-once** by design. A process always delivers its own
payloads to its own subscribers directly, Redis or not, so same-process delivery
goes on while Redis is down. Payloads for the other processes published while
Redis is unreachable are dropped, and when the subscriber reconnects the broker
calls the ``on_gap`` callback: the hub then asks its clients to resume from the
event log, which is where reliability lives. A broker never raises into the
publisher (the caller is an after-commit hook) and never crashes the server.
``connected`` says whether payloads currently reach the other processes (the
``/health`` endpoint reports it).

Payloads from one process arrive in the order ``publish`` was called.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)

# RedisBroker frames every pub/sub message with one tag byte and the publishing broker's origin
# (_ORIGIN_BYTES bytes), so a process skips its own messages: it delivered them directly.
_PAYLOAD = b"m"  # followed by the origin and the published payload
_GAP = b"g"  # followed by the origin: that publisher dropped payloads; treat it like a lost connection
_ORIGIN_BYTES = 12

OnMessage = Callable[[bytes], None]
OnGap = Callable[[], None]


class Broker(Protocol):
    def subscribe(self, on_message: OnMessage, on_gap: OnGap | None = None) -> None:
        """Register a receiver before :meth:`start`. ``on_message`` is called, in order, with
        every payload (this process's own included); it must not block. ``on_gap`` is called
        after the broker recovered from an outage during which payloads may have been lost."""

    async def start(self) -> None:
        """Connect and begin delivering. Returns once subscribed (or, if the backend is down,
        once the first attempt failed: the broker keeps retrying in the background)."""

    async def publish(self, payload: bytes) -> None:
        """Hand ``payload`` to every subscriber of every process. Never raises for
        transport errors and never waits for the network: at-most-once."""

    async def close(self) -> None:
        """Stop delivering and release connections. Idempotent."""

    @property
    def connected(self) -> bool:
        """True while payloads reach every process (always, in one process)."""


def broker_from_url(url: str, *, channel: str | None = None) -> Broker:
    """``memory://`` → :class:`MemoryBroker`; ``redis://…`` / ``rediss://…`` → :class:`RedisBroker`.

    Redis pub/sub ignores the database number, so the default channel contains it:
    ``salon:events:<db>``. Two deployments on one Redis stay apart by using different
    database numbers (or an explicit ``channel``).
    """
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryBroker()
    if parts.scheme in ("redis", "rediss"):
        db = parts.path.strip("/") or "0"
        return RedisBroker(url, channel=channel or f"salon:events:{db}")
    raise ValueError(f"unsupported broker URL {url!r}: use memory:// or redis://host:port/db")


class _Receivers:
    def __init__(self) -> None:
        self.on_message: list[OnMessage] = []
        self.on_gap: list[OnGap] = []

    def add(self, on_message: OnMessage, on_gap: OnGap | None) -> None:
        self.on_message.append(on_message)
        if on_gap is not None:
            self.on_gap.append(on_gap)

    def deliver(self, payload: bytes) -> None:
        for receive in self.on_message:
            try:
                receive(payload)
            except Exception:
                log.exception("a broker subscriber failed on a %d-byte payload", len(payload))

    def gap(self) -> None:
        for callback in self.on_gap:
            try:
                callback()
            except Exception:
                log.exception("a broker subscriber failed handling a delivery gap")


class MemoryBroker:
    """In-process delivery: ``publish`` calls each subscriber directly, in order."""

    def __init__(self) -> None:
        self._receivers = _Receivers()
        self._open = False

    def subscribe(self, on_message: OnMessage, on_gap: OnGap | None = None) -> None:
        self._receivers.add(on_message, on_gap)

    async def start(self) -> None:
        self._open = True

    async def publish(self, payload: bytes) -> None:
        if self._open:
            self._receivers.deliver(payload)

    async def close(self) -> None:
        self._open = False

    @property
    def connected(self) -> bool:
        return self._open


class RedisBroker:
    """Redis pub/sub on one channel, with one publishing and one subscribing connection.

    ``publish`` delivers to this process's subscribers at once, then appends to a
    bounded in-memory queue that a sender task drains into ``PUBLISH``, so a commit
    never waits for Redis; the listener skips the messages this broker published. The listener task owns its
    reconnect loop (exponential backoff, ``min_backoff_s`` to ``max_backoff_s``); the
    client library's own silent retries are disabled so that every reconnection is
    seen, and reported to subscribers through ``on_gap``. A ping every ``ping_s``
    seconds detects a connection that died without closing. A publish that fails (or
    overflows ``outgoing_limit``) is dropped, and the next successful publish is
    preceded by a gap notice, so every process learns that it missed something.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "salon:events:0",
        outgoing_limit: int = 10_000,
        ping_s: float = 5.0,
        min_backoff_s: float = 0.05,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.url = url
        self.channel = channel
        # CLIENT LIST shows which process a connection belongs to: <client_name>:sub and :pub.
        self.client_name = f"salon-{uuid.uuid4().hex[:12]}"
        self._origin = self.client_name.removeprefix("salon-").encode()  # _ORIGIN_BYTES long
        self._ping_s = ping_s
        self._min_backoff = min_backoff_s
        self._max_backoff = max_backoff_s
        self._receivers = _Receivers()
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue(maxsize=outgoing_limit)
        self._dropped = 0
        self._lost = False  # payloads were dropped: send a gap notice before the next one
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = False  # subscribed right now
        self._open = False

    def subscribe(self, on_message: OnMessage, on_gap: OnGap | None = None) -> None:
        self._receivers.add(on_message, on_gap)

    async def start(self) -> None:
        if self._open:
            return
        self._open = True
        first_attempt = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(first_attempt), name="redis-broker-listen"),
            loop.create_task(self._send(), name="redis-broker-send"),
        ]
        await first_attempt.wait()

    @property
    def connected(self) -> bool:
        """Subscribed to the channel right now (the publishing connection follows Redis's
        fate: a failed publish is reported to the other processes as a gap)."""
        return self._open and self._listening

    async def publish(self, payload: bytes) -> None:
        if not self._open:
            return
        self._receivers.deliver(payload)
        try:
            self._outgoing.put_nowait(payload)
        except asyncio.QueueFull:
            self._lost = True
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("redis broker: outgoing queue full, %d payloads dropped", self._dropped)

    async def close(self) -> None:
        self._open = False
        pending = set(self._tasks)
        self._tasks = []
        while pending:
            # Ask again until they stop: a cancellation that lands inside the client
            # library's own cleanup can be absorbed there.
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)

    def _client(self, **options: Any) -> Redis:
        return Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=2.0,
            socket_keepalive=True,
            **options,
        )

    async def _listen(self, first_attempt: asyncio.Event) -> None:
        backoff = self._min_backoff
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            client = self._client(client_name=f"{self.client_name}:sub")
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                # Only from now on does a publish reach us; anything earlier is the gap.
                if failures:
                    log.warning("redis broker: subscribed to %s again; payloads may have been lost", self.channel)
                    self._receivers.gap()
                self._listening = True
                first_attempt.set()
                backoff = self._min_backoff
                heard = pinged = loop.time()
                while True:
                    message = await pubsub.get_message(timeout=self._ping_s)
                    now = loop.time()
                    if message is not None:
                        heard = now
                        if message["type"] == "message":
                            self._receive(message["data"])
                    elif now - heard > 3 * self._ping_s:
                        raise TimeoutError("no answer to pings")
                    if now - pinged >= self._ping_s:
                        await pubsub.ping()
                        pinged = now
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("redis broker: subscription to %s lost (%r); retrying in %.2fs", self.channel, exc, backoff)
                first_attempt.set()
            finally:
                self._listening = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _receive(self, data: bytes) -> None:
        tag, origin = data[:1], data[1 : 1 + _ORIGIN_BYTES]
        if origin == self._origin:
            return  # delivered directly by publish(); our own drops did not skip us
        if tag == _PAYLOAD:
            self._receivers.deliver(data[1 + _ORIGIN_BYTES :])
        elif tag == _GAP:
            log.warning("redis broker: a publisher on %s dropped payloads", self.channel)
            self._receivers.gap()

    async def _send(self) -> None:
        backoff = self._min_backoff
        client = self._client(client_name=f"{self.client_name}:pub", socket_timeout=2.0)
        try:
            while True:
                payload = await self._outgoing.get()
                try:
                    if self._lost:
                        # Tell every process (this one too) that something it should have seen is gone.
                        await client.publish(self.channel, _GAP + self._origin)
                        self._lost = False
                    await client.publish(self.channel, _PAYLOAD + self._origin + payload)
                    backoff = self._min_backoff
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    dropped = 1 + self._outgoing.qsize()
                    while not self._outgoing.empty():  # stale by the time Redis is back: resume covers it
                        self._outgoing.get_nowait()
                    self._lost = True
                    log.warning("redis broker: publish failed (%r); %d payloads dropped", exc, dropped)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

"""The client side of ``bench.fanout``: a sender and many cheap receivers, all on one event loop.

The receivers are not ``websockets`` connections: with 500 of them in one
process on a 2-core machine, the library's per-message work (frame parser,
message assembler, queue, task wake-up) would be a large part of what is
measured. :class:`RawReceiver` is an ``asyncio.Protocol`` that does the
opening handshake by hand and then parses the server's (unmasked) frames
straight out of the bytes read, stamping every frame of a read with the time
of that read. It understands what these servers send: unfragmented text frames
(binary ones are read the same way) and close frames (server pings are answered, though neither server sends them).
Its own frames (heartbeat ``ping`` frames, the close) carry a zero mask key.

The sender uses the ``websockets`` client: one connection, and it must match
acks to posts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

BODY = "the tender for Q3 needs a second review before we send it to the client; legal wants the final figures"
_REPLY = re.compile(rb'^\{"type":"(ack|error)","id":(\d+)')
_HELLO = b'{"type":"hello"'


@dataclass
class RunState:
    """What one run's clients saw, on one monotonic clock (``time.perf_counter``)."""

    marker: bytes  # every post's body holds marker + seq + b"y"
    sent: array[float] = field(default_factory=lambda: array("d"))  # seq -> time of the post's send
    latencies: array[float] = field(default_factory=lambda: array("d"))  # one per delivery to a receiver
    delivered_seqs: array[int] = field(default_factory=lambda: array("l"))  # the post of each latency
    ack_latencies: array[float] = field(default_factory=lambda: array("d"))
    deliveries: int = 0
    acked: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    last_rx: float = 0.0
    last_delivery: float = 0.0
    last_ack: float = 0.0
    phase: str = "connect"  # then "run" from the first post
    closing: bool = False
    closed_early: list[str] = field(default_factory=list)  # "phase code" of each socket the server closed

    def server_closed(self, code: int) -> None:
        if not self.closing:
            self.closed_early.append(f"{self.phase} {code}")


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (zero mask key: the payload goes as is)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


class RawReceiver(asyncio.Protocol):
    """One receiving websocket: counts the frames that carry the run's marker and times them."""

    def __init__(self, state: RunState, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.state = state
        self.request = request
        self.buf = bytearray()
        self.upgraded = False
        self.hello: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
            self.state.server_closed(1006)
        if not self.hello.done():
            self.hello.set_exception(ConnectionError(f"closed before hello ({self.close_code})"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        state = self.state
        state.last_rx = now
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.hello.set_exception(ConnectionError(bytes(buf[:end]).decode(errors="replace")))
                self.close_code = 0
                assert self.transport is not None
                self.transport.abort()
                return
            del buf[: end + 4]
            self.upgraded = True
        pos, size = 0, len(buf)
        marker, skip = state.marker, len(state.marker)
        while size - pos >= 2:
            length, head = buf[pos + 1] & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            start = pos + head
            end = start + length
            if end > size:
                break
            opcode = buf[pos] & 0x0F
            pos = end
            if opcode in (0x1, 0x2):
                at = buf.find(marker, start, end)
                if at >= 0:
                    digits = at + skip
                    seq = int(buf[digits : buf.index(b"y", digits, end)])
                    state.latencies.append(now - state.sent[seq])
                    state.delivered_seqs.append(seq)
                    state.deliveries += 1
                    state.last_delivery = now
                elif not self.hello.done() and buf.startswith(_HELLO, start):
                    self.hello.set_result(None)
            elif opcode == 0x8:
                code = int.from_bytes(buf[start : start + 2], "big") if length >= 2 else 1005
                if self.close_code is None:
                    self.close_code = code
                    state.server_closed(code)
            elif opcode == 0x9:
                self.write(0xA, bytes(buf[start:end]))
        del buf[:pos]

    def write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(opcode, payload))

    def send_text(self, text: str) -> None:
        self.write(0x1, text.encode())

    async def close(self) -> None:
        """Send a normal close, wait a moment for the server to drop the connection."""
        if self.close_code is None:
            self.close_code = 1000
        self.write(0x8, (1000).to_bytes(2, "big"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.lost), 2)
        if self.transport is not None:
            self.transport.abort()


async def open_receiver(url: str, token: str, state: RunState) -> RawReceiver:
    """Connect like a bot (bearer token, no compression) and wait for ``hello``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    _, receiver = await loop.create_connection(lambda: RawReceiver(state, request), host, port)
    await asyncio.wait_for(receiver.hello, 60)
    return receiver


async def open_socket(url: str, token: str) -> ClientConnection:
    """A ``websockets`` connection like a bot's (bearer token, no compression, no client pings), after hello."""
    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        ping_interval=None,
        open_timeout=60,
        max_size=1 << 20,
        max_queue=None,  # never stop reading: the harness is the consumer, not the bottleneck
    )
    first = await asyncio.wait_for(ws.recv(decode=False), 60)
    if not first.startswith(_HELLO):
        raise RuntimeError(f"expected hello, got {first[:200]!r}")
    return ws


async def heartbeat(receivers: Sequence[RawReceiver], senders: Sequence[ClientConnection], every: float = 15.0) -> None:
    """Send a ``ping`` frame on every socket now and then, as live clients do: Salon closes
    a socket that sends nothing for two heartbeat intervals (2 × 25 s by default)."""
    n = 0
    while True:
        await asyncio.sleep(every)
        for receiver in receivers:
            n += 1
            receiver.send_text(f'{{"type":"ping","id":"hb{n}"}}')
        for sender in senders:
            with contextlib.suppress(ConnectionClosed):
                await sender.send(f'{{"type":"ping","id":"hb{n}"}}')


class Sender:
    """The sender's socket: posts frames and matches acks by frame id (its own events are skipped)."""

    def __init__(self, ws: ClientConnection, state: RunState, conversation: int) -> None:
        self.ws, self.state, self.conversation = ws, state, conversation
        self.tag = state.marker.decode()
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    def frame(self, seq: int) -> str:
        body = f"{self.tag}{seq}y {BODY}"
        return (
            f'{{"type":"post","id":{seq},"conversation":{self.conversation},'
            f'"topic":"fan-out","body":"{body}","nonce":"{self.tag}-{seq}"}}'
        )

    async def post(self) -> asyncio.Future[None]:
        """Send the run's next post (numbered across senders); the future is done when its ack (or error) arrives."""
        seq = len(self.state.sent)
        done = self.waiting[seq] = asyncio.get_running_loop().create_future()
        data = self.frame(seq)
        self.state.sent.append(time.perf_counter())
        await self.ws.send(data)
        return done

    async def _read(self) -> None:
        state = self.state
        try:
            while True:
                raw = await self.ws.recv(decode=False)
                now = time.perf_counter()
                state.last_rx = now
                match = _REPLY.match(raw)
                if match is None:
                    continue
                seq = int(match.group(2))
                if match.group(1) == b"ack":
                    state.acked += 1
                    state.last_ack = now
                    state.ack_latencies.append(now - state.sent[seq])
                else:
                    code = re.search(rb'"code":"([^"]+)"', raw)
                    key = code.group(1).decode() if code else "?"
                    state.errors[key] = state.errors.get(key, 0) + 1
                done = self.waiting.pop(seq, None)
                if done is not None and not done.done():
                    done.set_result(None)
        except ConnectionClosed as exc:
            state.server_closed(exc.rcvd.code if exc.rcvd else 1006)
            for done in self.waiting.values():
                if not done.done():
                    done.set_exception(exc)


async def closed_loop(sender: Sender, duration: float, max_messages: int) -> None:
    """Post the next message as soon as the previous one is acked (until the run has ``max_messages``)."""
    end = time.perf_counter() + duration
    while len(sender.state.sent) < max_messages and time.perf_counter() < end:
        await asyncio.wait_for(await sender.post(), 30)


async def open_loop(sender: Sender, duration: float, rate: float) -> None:
    """Post ``rate`` messages per second on a fixed schedule, whatever the acks do."""
    start = time.perf_counter()
    pending: list[asyncio.Future[None]] = []
    for seq in range(int(duration * rate)):
        delay = start + seq / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(await sender.post())
    await asyncio.wait_for(asyncio.gather(*pending), 30)


async def settle(state: RunState, quiet: float = 0.5, limit_s: float = 60.0) -> None:
    """Wait until no frame has arrived for ``quiet`` seconds (Salon's presence frames after connecting)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        await asyncio.sleep(0.1)
        if time.perf_counter() - max(state.last_rx, start) >= quiet:
            return

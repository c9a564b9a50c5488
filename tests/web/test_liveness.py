"""Websocket liveness is the protocol's ping/pong (uvicorn's ``ws_ping_interval``/``ws_ping_timeout``).

Against a real server with ``heartbeat_s=1``: a peer that never answers a protocol ping (a raw socket,
standing in for a dead peer) is closed with 1011 after its first unanswered ping, that is within two
heartbeats; a client whose library answers pings on its own stays connected without sending a frame.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct

import pytest
import websockets

from chat.config import Settings
from tests.conftest import Live
from tests.factories import Cast

WAIT_S = 10.0  # upper bound for something that must happen; never a timing assertion
OP_TEXT, OP_CLOSE, OP_PING = 0x1, 0x8, 0x9


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(heartbeat_s=1)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(length)


async def test_a_peer_that_does_not_answer_pings_is_closed(live: Live, cast: Cast) -> None:
    token = await live.token(cast.bob)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    assert head.startswith(b"HTTP/1.1 101 ")
    seen: list[int] = []
    texts: list[bytes] = []
    while True:  # read everything, answer nothing
        opcode, payload = await asyncio.wait_for(read_frame(reader), WAIT_S)
        seen.append(opcode)
        if opcode == OP_TEXT:
            texts.append(payload)
        if opcode == OP_CLOSE:
            break
    assert json.loads(texts[0])["type"] == "hello"
    (code,) = struct.unpack("!H", payload[:2])
    assert code == 1011 and payload[2:] == b"keepalive ping timeout"
    assert seen.count(OP_PING) == 1  # closed after the first unanswered ping: within two heartbeats
    writer.close()


async def test_a_client_that_answers_pings_but_sends_nothing_stays_connected(live: Live, cast: Cast) -> None:
    token = await live.token(cast.bob)
    async with websockets.connect(live.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await asyncio.sleep(4)  # four heartbeats of silence from the client (its library answers the pings)
        await ws.send(json.dumps({"type": "ping", "id": "still-here"}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            if frame.get("id") == "still-here":
                break
        assert frame["type"] == "ack"

"""Slow and excess clients against a real server (``chat.web.serving`` under uvicorn), over raw sockets.

The server runs with ``header_timeout_s=1`` and ``max_connections=3``. A client that trickles its
request headers is answered 408 and disconnected before it finishes; the fourth open connection gets a
clear 503 (HTTP request or websocket handshake alike) while three are open, and is served once one
closes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chat.config import Settings
from tests.conftest import Live
from tests.factories import Cast

WAIT_S = 10.0  # upper bound for something that must happen; never a timing assertion
TRICKLE_S = 0.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(header_timeout_s=1, max_connections=3)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-case headers, body) read until the server closes."""
    raw = await asyncio.wait_for(reader.read(), WAIT_S)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


async def get(live: Live, path: str = "/api/v1/openapi.json") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    status, _, _ = await read_response(reader)
    writer.close()
    return status


async def test_a_client_that_trickles_its_headers_is_cut_off(live: Live) -> None:
    request = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"s" * 40 + b"\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    sent = 0
    answer = b""
    while sent < len(request) and not answer:  # 60 bytes at 2 a second: 30 s if nothing cuts it off
        writer.write(request[sent : sent + 1])
        sent += 1
        try:
            answer = await asyncio.wait_for(reader.read(65536), TRICKLE_S)
        except TimeoutError:
            continue
    assert sent < len(request), "the whole request trickled in without being cut off"
    rest = await asyncio.wait_for(reader.read(), WAIT_S)  # then end of stream: the server closed
    assert answer.startswith(b"HTTP/1.1 408 ")
    head, _, body = (answer + rest).partition(b"\r\n\r\n")
    assert json.loads(body)["error"]["code"] == "header_timeout"
    assert b"x-content-type-options: nosniff" in head.lower()
    assert reader.at_eof()
    writer.close()


async def test_a_connection_that_sends_nothing_is_closed(live: Live) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    status, headers, _ = await read_response(reader)
    assert status == 408 and headers["connection"] == "close"
    writer.close()


async def test_a_prompt_client_is_served(live: Live) -> None:
    assert await get(live) == 200


@pytest.fixture
async def three_sockets(live: Live, cast: Cast) -> AsyncIterator[list[websockets.ClientConnection]]:
    """Three open websockets: the cap (max_connections=3) is reached."""
    headers = {"Authorization": f"Bearer {await live.token(cast.alice)}"}
    sockets = [await websockets.connect(live.ws_url, additional_headers=headers) for _ in range(3)]
    yield sockets
    for ws in sockets:
        await ws.close()


async def test_over_the_cap_http_and_websockets_get_a_clear_503(
    live: Live, cast: Cast, three_sockets: list[websockets.ClientConnection]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers, body = await read_response(reader)  # read() returns: the server closed the connection
    writer.close()
    assert status == 503
    assert headers["retry-after"].isdigit() and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "too_many_connections"

    token = await live.token(cast.bob)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(live.ws_url, additional_headers={"Authorization": f"Bearer {token}"})
    assert refused.value.response.status_code == 503
    assert json.loads(refused.value.response.body)["error"]["code"] == "too_many_connections"

    # the three websockets are still served
    for ws in three_sockets:
        await ws.send(json.dumps({"type": "ping", "id": "p"}))
    # one closes: a new connection is served again (once the server has seen it go)
    await three_sockets[0].close()
    status = await get(live)
    for _ in range(int(WAIT_S / 0.1)):
        if status != 503:
            break
        await asyncio.sleep(0.1)
        status = await get(live)
    assert status == 200

"""No acknowledged message is lost on ``kill -9``; nothing is delivered twice after resume.

A real server runs as a subprocess. Two senders post as fast as they get
acks, three receivers follow the channel. The server is killed with SIGKILL
in the middle, restarted on the same data directory; the senders retry
whatever was not acked (same nonce), the receivers resume from their last
event id. Every acked message reaches every receiver exactly once, and a
retried post is stored once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.integration.server import LOAD_TEST_ENV, ServerProcess

SENDERS = 2
RECEIVERS = 3
BEFORE_KILL = 60  # acked posts (all senders) before the kill


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data", env=LOAD_TEST_ENV)
    srv.start()
    yield srv
    srv.stop()


async def connect(srv: ServerProcess, token: str) -> Any:
    ws = await websockets.connect(srv.ws_url, additional_headers={"Authorization": f"Bearer {token}"})
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello"
    return ws


class Sender:
    def __init__(self, srv: ServerProcess, token: str, conversation: int, name: str) -> None:
        self.srv, self.token, self.conversation, self.name = srv, token, conversation, name
        self.acked: dict[str, int] = {}  # nonce -> message id
        self.pending: list[str] = []  # sent, not acked yet

    async def run(self, stop: asyncio.Event) -> None:
        """Post one message at a time until the connection dies or ``stop`` is set."""
        ws = await connect(self.srv, self.token)
        try:
            n = 0
            while not stop.is_set():
                nonce = f"{self.name}-{n}-{uuid.uuid4().hex[:6]}"
                n += 1
                self.pending.append(nonce)
                await ws.send(self.frame(nonce))
                while True:
                    reply = json.loads(await ws.recv())
                    if reply.get("type") == "ack" and reply["id"] == nonce:
                        break
                assert "message" in reply, reply
                self.acked[nonce] = int(reply["message"]["id"])
                self.pending.remove(nonce)
        except websockets.ConnectionClosed:
            return
        finally:
            await ws.close()

    def frame(self, nonce: str) -> str:
        return json.dumps(
            {
                "type": "post",
                "id": nonce,
                "conversation": self.conversation,
                "topic": "durability",
                "body": f"message {nonce}",
                "nonce": nonce,
            }
        )

    async def retry_pending(self) -> None:
        ws = await connect(self.srv, self.token)
        try:
            for nonce in list(self.pending):
                await ws.send(self.frame(nonce))
                while True:
                    reply = json.loads(await ws.recv())
                    if reply.get("type") == "ack" and reply["id"] == nonce:
                        break
                self.acked[nonce] = int(reply["message"]["id"])
                self.pending.remove(nonce)
        finally:
            await ws.close()


class Receiver:
    def __init__(self, srv: ServerProcess, token: str) -> None:
        self.srv, self.token = srv, token
        self.last_event_id = 0
        self.messages: list[int] = []  # message ids of message.posted events, in arrival order

    def take(self, frame: dict[str, Any]) -> None:
        if frame.get("type") != "event":
            return
        event = frame["event"]
        assert event["id"] > self.last_event_id, "an event arrived twice or out of order"
        self.last_event_id = event["id"]
        if event["kind"] == "message.posted":
            self.messages.append(int(event["data"]["message"]["id"]))

    async def follow(self, ready: asyncio.Event) -> None:
        ws = await connect(self.srv, self.token)
        ready.set()
        try:
            async for raw in ws:
                self.take(json.loads(raw))
        except websockets.ConnectionClosed:
            return

    async def resume(self, until_message_ids: set[int]) -> None:
        ws = await connect(self.srv, self.token)
        try:
            await ws.send(json.dumps({"type": "resume", "id": "r1", "after": self.last_event_id}))
            resumed = False
            while not resumed or not until_message_ids <= set(self.messages):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if frame.get("type") == "resumed":
                    resumed = True
                else:
                    self.take(frame)
        finally:
            await ws.close()


async def test_acked_messages_survive_kill9_and_arrive_once(server: ServerProcess) -> None:
    accounts = [server.user_with_token(f"user{i}") for i in range(SENDERS + RECEIVERS)]
    admin_token = accounts[0][1]
    r = server.api("POST", "/conversations", admin_token, json={"kind": "public", "name": "durability"})
    assert r.status_code == 201, r.text
    conversation = int(r.json()["id"])
    for user_id, token in accounts[1:]:
        r = server.api("POST", f"/conversations/{conversation}/members", token, json={"user_id": user_id})
        assert r.status_code in (200, 201), r.text

    senders = [Sender(server, tok, conversation, f"s{i}") for i, (_, tok) in enumerate(accounts[:SENDERS])]
    receivers = [Receiver(server, tok) for _, tok in accounts[SENDERS:]]
    ready = [asyncio.Event() for _ in receivers]
    following = [asyncio.create_task(rc.follow(ev)) for rc, ev in zip(receivers, ready, strict=True)]
    await asyncio.gather(*(ev.wait() for ev in ready))

    stop = asyncio.Event()
    sending = [asyncio.create_task(s.run(stop)) for s in senders]
    while sum(len(s.acked) for s in senders) < BEFORE_KILL:  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.01)
    await asyncio.to_thread(server.kill9)  # mid-flight: posts are in progress
    await asyncio.wait_for(asyncio.gather(*sending, *following), 20)

    acked_before = {mid for s in senders for mid in s.acked.values()}
    assert len(acked_before) >= BEFORE_KILL

    server.start()
    for s in senders:
        await s.retry_pending()
    all_acked = {mid for s in senders for mid in s.acked.values()}
    assert all_acked >= acked_before
    for rc in receivers:
        await rc.resume(all_acked)
        assert len(rc.messages) == len(set(rc.messages)), "a message was delivered twice"
        assert all_acked <= set(rc.messages), "an acked message was lost"

    # every nonce was stored once: the history holds exactly the acked messages
    r = server.api("GET", f"/conversations/{conversation}/messages?limit=200", admin_token)
    assert r.status_code == 200, r.text
    stored: list[int] = []
    page = r.json()
    stored += [m["id"] for m in page["messages"]]
    while page.get("has_more_before"):
        r = server.api("GET", f"/conversations/{conversation}/messages?limit=200&before={stored[0]}", admin_token)
        page = r.json()
        stored = [m["id"] for m in page["messages"]] + stored
    assert sorted(stored) == sorted(all_acked)

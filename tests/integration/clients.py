"""Websocket clients for the fault tests that behave as docs/protocol.md tells a client to.

* :class:`Poster` posts one message at a time with a fresh nonce, and keeps the nonce of a
  post that got no ack: after a retryable error (503-class codes) or a lost connection it
  sends the same nonce again, so a post is stored once however often it is retried.
* :class:`Follower` follows live events and, whenever its socket closes, reconnects and
  resumes from its cursor, buffering the events between ``resume`` and ``resumed`` and
  skipping ids at or below its cursor or already processed (the documented overlap). It
  keeps an event frame's ``cursor`` field when it has one, and the ids it processed above
  its cursor. A live event at or below the cursor, already processed or out of order is a
  duplicate and fails the test.

Both wait generously and poll: a fault test asserts what happens, never how fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from typing import Any

import httpx2
import websockets

from tests.integration.server import ServerProcess

RETRYABLE = frozenset({"storage_full", "database_unavailable"})
ANSWER_WITHIN = 60.0  # seconds: a frame left unanswered this long is a hang (a guard, not a measurement)
CONNECT_ERRORS = (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed)


async def connect(srv: ServerProcess, token: str) -> Any:
    """A socket past its ``hello`` frame; raises one of ``CONNECT_ERRORS`` if refused."""
    ws = await websockets.connect(
        srv.ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=ANSWER_WITHIN
    )
    try:
        hello = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_WITHIN))
    except BaseException:
        await ws.close()
        raise
    if hello.get("type") != "hello":
        await ws.close()
        raise websockets.InvalidHandshake(f"expected hello, got {hello}")
    return ws


class Poster:
    def __init__(self, srv: ServerProcess, token: str, conversation: int, name: str, *, body: str = "") -> None:
        self.srv, self.token, self.conversation, self.name = srv, token, conversation, name
        self.body = body
        self.acked: dict[str, int] = {}  # nonce -> message id
        self.refused: Counter[str] = Counter()  # retryable error codes received
        self.pending: str | None = None  # the nonce being posted (retried until acked)
        self._count = 0
        self._ws: Any = None

    def frame(self, nonce: str) -> str:
        return json.dumps(
            {
                "type": "post",
                "id": nonce,
                "conversation": self.conversation,
                "topic": "faults",
                "body": f"message {nonce} {self.body}",
                "nonce": nonce,
            }
        )

    async def _socket(self) -> Any:
        while self._ws is None:
            try:
                self._ws = await connect(self.srv, self.token)
            except CONNECT_ERRORS:
                await asyncio.sleep(0.2)
        return self._ws

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(*CONNECT_ERRORS):
                await self._ws.close()
            self._ws = None

    async def attempt(self) -> dict[str, Any]:
        """Send the pending post (a new one if none) once; the reply frame, or ``{"type": "closed"}``."""
        if self.pending is None:
            self._count += 1
            self.pending = f"{self.name}-{self._count}-{uuid.uuid4().hex[:6]}"
        nonce = self.pending
        ws = await self._socket()
        try:
            await ws.send(self.frame(nonce))
            while True:
                try:
                    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_WITHIN))
                except TimeoutError:
                    raise AssertionError(f"post {nonce} got no answer within {ANSWER_WITHIN}s: a hang") from None
                if reply.get("id") == nonce and reply.get("type") in ("ack", "error"):
                    break
        except websockets.ConnectionClosed:
            await self.close()
            return {"type": "closed"}
        if reply["type"] == "ack":
            self.acked[nonce] = int(reply["message"]["id"])
            self.pending = None
        else:
            assert reply["code"] in RETRYABLE, f"a post failed with a non-retryable error: {reply}"
            assert isinstance(reply.get("retry_after"), int) and reply["retry_after"] > 0, reply
            self.refused[reply["code"]] += 1
        return reply

    async def run(self, stop: asyncio.Event) -> None:
        """Post until ``stop`` is set, retrying (same nonce) after a refusal or a lost socket."""
        while not stop.is_set():
            reply = await self.attempt()
            if reply["type"] != "ack":
                await asyncio.sleep(0.2)

    async def flush(self) -> None:
        """Retry the pending post until it is acked."""
        while self.pending is not None:
            reply = await self.attempt()
            if reply["type"] != "ack":
                await asyncio.sleep(0.2)


class Follower:
    def __init__(self, srv: ServerProcess, token: str) -> None:
        self.srv, self.token = srv, token
        self.cursor = 0
        self.above: set[int] = set()  # ids processed above the cursor (a capped frame's ``cursor`` held it back)
        self.messages: list[int] = []  # message ids of message.posted events, in arrival order
        self.live: set[int] = set()  # those of them delivered live, not replayed by a resume
        self.closes: list[int | None] = []  # close codes of the sockets the server closed
        self.resumed = asyncio.Event()  # set after each completed resume
        self._resuming: list[dict[str, Any]] | None = None

    def _apply(self, event: dict[str, Any], *, live: bool, cursor: int | None = None) -> None:
        self.cursor = max(self.cursor, event["id"] if cursor is None else min(cursor, event["id"]))
        self.above = {i for i in self.above | {event["id"]} if i > self.cursor}
        if event["kind"] == "message.posted":
            self.messages.append(int(event["data"]["message"]["id"]))
            if live:
                self.live.add(self.messages[-1])

    def _take(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "resumed":
            assert self._resuming is not None, "resumed without resume"
            for event in sorted(self._resuming, key=lambda e: int(e["id"])):
                if event["id"] > self.cursor and event["id"] not in self.above:  # the documented overlap
                    self._apply(event, live=False)
            self._resuming = None
            self.resumed.set()
        elif frame.get("type") == "event":
            if self._resuming is not None:
                self._resuming.append(frame["event"])
            else:
                newest = max(self.above, default=self.cursor)
                assert frame["event"]["id"] > newest, f"an event arrived twice or out of order: {frame}"
                self._apply(frame["event"], live=True, cursor=frame.get("cursor"))

    async def run(self, stop: asyncio.Event) -> None:
        """Follow until ``stop``; after every close, reconnect and resume from the cursor."""
        while not stop.is_set():
            try:
                ws = await connect(self.srv, self.token)
            except CONNECT_ERRORS:
                await asyncio.sleep(0.2)
                continue
            try:
                self.resumed.clear()
                self._resuming = []
                await ws.send(json.dumps({"type": "resume", "id": "r", "after": self.cursor}))
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    self._take(json.loads(raw))
            except websockets.ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd is not None else None)
            finally:
                self._resuming = None
                with contextlib.suppress(*CONNECT_ERRORS):
                    await ws.close()

    async def wait_for(self, message_ids: set[int]) -> None:
        while not message_ids <= set(self.messages):  # noqa: ASYNC110 - polling what run() collects
            await asyncio.sleep(0.05)


def stored_message_ids(srv: ServerProcess, token: str, conversation: int) -> list[int]:
    """Every message id in the conversation's history, oldest first (pages of 200)."""
    r = srv.api("GET", f"/conversations/{conversation}/messages?limit=200", token)
    assert r.status_code == 200, r.text
    page = r.json()
    stored: list[int] = [m["id"] for m in page["messages"]]
    while page.get("has_more_before"):
        r = srv.api("GET", f"/conversations/{conversation}/messages?limit=200&before={stored[0]}", token)
        assert r.status_code == 200, r.text
        page = r.json()
        stored = [m["id"] for m in page["messages"]] + stored
    return stored


def make_team(srv: ServerProcess, names: list[str]) -> tuple[list[str], int]:
    """Register ``names`` (the first is the admin), make a channel everyone joined; (tokens, channel id)."""
    accounts = [srv.user_with_token(name) for name in names]
    admin = accounts[0][1]
    r = srv.api("POST", "/conversations", admin, json={"kind": "public", "name": "faults"})
    assert r.status_code == 201, r.text
    conversation = int(r.json()["id"])
    for user_id, token in accounts[1:]:
        r = srv.api("POST", f"/conversations/{conversation}/members", token, json={"user_id": user_id})
        assert r.status_code in (200, 201), r.text
    return [token for _, token in accounts], conversation


def health(srv: ServerProcess) -> httpx2.Response:
    return srv.api("GET", "/health", timeout=ANSWER_WITHIN)

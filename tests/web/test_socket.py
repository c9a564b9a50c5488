"""The websocket endpoint against a real uvicorn server: handshake, hello, post/ack, fan-out, resume."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation, join_conversation
from chat.store.db import Database
from tests.conftest import Live
from tests.factories import Cast


async def connect(live: Live, token: str, **headers: str) -> Any:
    ws = await websockets.connect(live.ws_url, additional_headers={"Authorization": f"Bearer {token}", **headers})
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello"
    return ws


async def next_frame(ws: Any, type_: str, wait_s: float = 5) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait_s))
        if frame["type"] == type_:
            return frame


async def channel(db: Database, cast: Cast, *members: str, name: str = "general") -> int:
    async with db.transaction() as s:
        info = await create_conversation(s, cast.alice, CreateConversation(kind="public", name=name))
        for m in members:
            await join_conversation(s, getattr(cast, m), info.id)
    return info.id


async def test_hello_then_post_is_acked_and_fanned_out(live: Live, db: Database, cast: Cast) -> None:
    conv = await channel(db, cast, "bob", "carol")
    bob = await connect(live, await live.token(cast.bob))
    carol = await connect(live, await live.token(cast.carol))
    await bob.send(
        json.dumps({"type": "post", "id": "c1", "conversation": conv, "topic": "Q3", "body": "hi *all*", "nonce": "n1"})
    )
    ack = await next_frame(bob, "ack")
    assert ack["id"] == "c1" and ack["message"]["html"].strip() == "<p>hi <em>all</em></p>"
    event = (await next_frame(carol, "event"))["event"]
    assert event["kind"] == "message.posted" and event["data"]["message"]["id"] == ack["message"]["id"]
    assert event["data"]["body"] == "hi *all*"
    await bob.close()
    await carol.close()


async def test_handshake_refuses_bad_token_and_foreign_origin(live: Live, cast: Cast) -> None:
    with pytest.raises(InvalidStatus) as bad:
        await websockets.connect(live.ws_url, additional_headers={"Authorization": "Bearer salon_nope"})
    assert bad.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as no_cred:
        await websockets.connect(live.ws_url, origin=live.base_url)  # type: ignore[arg-type]
    assert no_cred.value.response.status_code == 401
    token = await live.token(cast.bob)
    with pytest.raises(InvalidStatus) as foreign:
        await websockets.connect(
            live.ws_url,
            origin="https://evil.example",
            additional_headers={"Authorization": f"Bearer {token}"},  # type: ignore[arg-type]
        )
    assert foreign.value.response.status_code == 403


async def test_resume_replays_missed_events_once_in_order(live: Live, db: Database, cast: Cast) -> None:
    conv = await channel(db, cast, "bob", "carol")
    bob_token, carol_token = await live.token(cast.bob), await live.token(cast.carol)
    carol = await connect(live, carol_token)
    bob = await connect(live, bob_token)
    await bob.send(
        json.dumps({"type": "post", "id": 1, "conversation": conv, "topic": "t", "body": "one", "nonce": "a"})
    )
    await next_frame(bob, "ack")
    first = (await next_frame(carol, "event"))["event"]
    await carol.close()
    for i in range(5):
        await bob.send(
            json.dumps(
                {"type": "post", "id": i + 2, "conversation": conv, "topic": "t", "body": f"m{i}", "nonce": f"b{i}"}
            )
        )
        await next_frame(bob, "ack")
    carol = await connect(live, carol_token)
    await carol.send(json.dumps({"type": "resume", "id": "r", "after": first["id"]}))
    got = []
    while True:
        frame = json.loads(await asyncio.wait_for(carol.recv(), 5))
        if frame["type"] == "resumed":
            break
        if frame["type"] == "event":
            got.append(frame["event"])
    bodies = [e["data"]["body"] for e in got if e["kind"] == "message.posted"]
    assert bodies == [f"m{i}" for i in range(5)]
    assert [e["id"] for e in got] == sorted({e["id"] for e in got})
    assert frame["last_event_id"] >= got[-1]["id"]
    await carol.close()
    await bob.close()

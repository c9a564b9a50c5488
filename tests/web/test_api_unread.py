"""Unread counts per conversation and per topic in ``GET /api/v1/conversations``, for several users."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette

from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.web.authhelp import as_user


async def unread_of(
    client: httpx2.AsyncClient, headers: dict[str, str], conversation: int
) -> tuple[int, dict[str, int]]:
    r = await client.get("/api/v1/conversations", headers=headers)
    assert r.status_code == 200, r.text
    (info,) = [c for c in r.json()["conversations"] if c["id"] == conversation]
    return info["unread"], {t["topic"]: t["count"] for t in info["unread_topics"]}


async def test_unread_counts_follow_each_users_reading(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    a = [await post(db, cast.alice, sales, f"a{i}", topic="Alpha") for i in range(3)]
    for i in range(2):
        await post(db, cast.alice, sales, f"b{i}", topic="Beta")
    await post(db, cast.bob, sales, "from bob", topic="Beta")
    alice, bob, carol = [await as_user(client, app, u) for u in (cast.alice, cast.bob, cast.carol)]

    r = await client.post(
        f"/api/v1/conversations/{sales}/read", json={"up_to_message_id": a[-1].id, "topic": "Alpha"}, headers=bob
    )
    assert r.status_code == 200, r.text

    assert await unread_of(client, bob, sales) == (2, {"Beta": 2})  # his own message is not unread
    assert await unread_of(client, carol, sales) == (6, {"Alpha": 3, "Beta": 3})
    assert await unread_of(client, alice, sales) == (1, {"Beta": 1})  # only bob's message

    r = await client.put(f"/api/v1/conversations/{sales}/topics/Beta/visibility", json={"mode": "muted"}, headers=carol)
    assert r.status_code == 200, r.text
    unread, topics = await unread_of(client, carol, sales)
    assert unread == 3 and topics == {"Alpha": 3, "Beta": 3}  # a muted topic still listed, not counted


async def test_unread_mentions_count_names_and_wildcards(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol, cast.maya])
    await post(db, cast.alice, sales, "@bob can you check?", topic="Alpha")
    await post(db, cast.alice, sales, "@maya and @bob too", topic="Beta")
    await post(db, cast.alice, sales, "@all standup moved", topic="Beta")
    await post(db, cast.alice, sales, "@dave is not here", topic="Beta")

    async def mentions(actor: object) -> int:
        headers = await as_user(client, app, actor)  # type: ignore[arg-type]
        r = await client.get("/api/v1/conversations", headers=headers)
        (info,) = [c for c in r.json()["conversations"] if c["id"] == sales]
        return int(info["unread_mentions"])

    assert await mentions(cast.bob) == 3
    assert await mentions(cast.maya) == 2
    assert await mentions(cast.carol) == 1
    assert await mentions(cast.alice) == 0  # her own messages are not unread

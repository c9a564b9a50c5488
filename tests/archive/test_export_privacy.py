"""Exports and archive pages hide what the history API hides: messages moved into a group the reader
cannot see (their old events), and the topic a message had while it sat in such a group; an admin
reading a conversation only an admin could read leaves an event; a cookie export started by another
site is refused."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx2
from sqlalchemy import func, select
from starlette.applications import Starlette

from chat.channels.message_commands import UpdateTopic
from chat.channels.topics import update_topic
from chat.store import models
from chat.store.db import Database
from tests.archive.test_exports import export, unpack, verify
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast
from tests.web.test_pages import ORIGIN, log_in


async def move(db: Database, actor: object, source: int, topic: str, target: int) -> None:
    async with db.transaction() as s:
        await update_topic(s, actor, source, UpdateTopic(topic=topic, move_to_conversation=target))  # type: ignore[arg-type]


async def test_a_topic_moved_into_a_private_group_leaves_no_text_in_a_channel_export(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, tmp_path: Path
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    board = await channel(db, cast.alice, "board", kind="private")
    await post(db, cast.alice, sales, "our merger target is Initech", topic="merger")
    await post(db, cast.alice, sales, "quarterly numbers", topic="numbers")
    await move(db, cast.alice, sales, "merger", board)
    response = await export(client, app, cast.bob, sales, "html")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        everything = b"".join(bundle.read(name) for name in bundle.namelist())
        events = [json.loads(line) for line in bundle.read("events.jsonl").splitlines()]
    assert b"Initech" not in everything
    assert b"quarterly numbers" in everything
    assert any(e.get("sealed") for e in events)  # the moved message's events: links only, the chain continuous
    code, out = verify(unpack(response.content, tmp_path / "bob"))
    assert code == 0, out
    admin = await export(client, app, cast.alice, sales, "html")  # an admin sees every conversation
    with zipfile.ZipFile(io.BytesIO(admin.content)) as bundle:
        assert b"Initech" in bundle.read("events.jsonl")


async def test_an_edit_made_in_a_private_group_shows_no_topic_to_an_outsider(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    board = await channel(db, cast.alice, "board", kind="private")
    await post(db, cast.alice, board, "draft", topic="Secret merger codename")
    async with db.transaction() as s:  # moved and renamed at once: the group's name lives on in the revisions
        await update_topic(
            s,
            cast.alice,
            board,
            UpdateTopic(topic="Secret merger codename", new_name="plans", move_to_conversation=sales),
        )
    for who, sees in ((cast.bob, False), (cast.alice, True)):
        response = await export(client, app, who, sales, "jsonl")
        assert ("Secret merger codename" in response.text) is sees, who.username
    client.cookies.clear()
    await log_in(client, "bob")
    page = await client.get(f"/archive/{sales}/topic", params={"key": "plans"})
    assert page.status_code == 200 and "draft" in page.text
    assert "Secret merger codename" not in page.text


async def test_an_admin_reading_a_direct_conversation_leaves_an_event(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    dm = await direct(db, cast.bob, cast.carol)
    await post(db, cast.bob, dm, "between us", topic="")
    general = await channel(db, cast.bob, "general", members=[cast.alice])

    async def viewed() -> list[dict[str, object]]:
        async with db.read() as s:
            q = select(models.Event.payload).where(models.Event.kind == "archive.viewed")
            return list((await s.scalars(q)).all())

    await log_in(client, "alice")
    assert (await client.get(f"/archive/{general}")).status_code == 200  # her own: nothing logged
    assert await viewed() == []
    assert (await client.get(f"/archive/{dm}")).status_code == 200
    assert (await client.get(f"/archive/{dm}/topic", params={"key": ""})).status_code == 200
    assert await viewed() == [{"conversation": dm, "topic_key": None}, {"conversation": dm, "topic_key": ""}]
    async with db.read() as s:
        audience = await s.scalar(select(func.min(models.Event.audience)).where(models.Event.kind == "archive.viewed"))
    assert audience == "admins"


async def test_a_cookie_export_started_by_another_site_is_refused(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await log_in(client, "bob")
    url = f"/api/v1/conversations/{sales}/export"
    refused = await client.get(url, headers={"Sec-Fetch-Site": "cross-site"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "csrf_failed")
    assert (await client.get(url, headers={"Origin": ORIGIN})).status_code == 200
    async with db.read() as s:
        exported = await s.scalar(select(func.count()).where(models.Event.kind == "archive.exported"))
    assert exported == 1

"""A topic moved out of (or into) a private group reveals neither the group's id nor its topic to the other side.

Checked where the other side's members read it: the events as written, the
event log they page through (``GET /api/v1/events`` on a real server) and the
frames their websocket receives, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from chat.channels.feed import events_since
from chat.channels.history import message_history
from chat.channels.message_commands import UpdateTopic
from chat.channels.topics import update_topic
from chat.domain.actors import Actor
from chat.store.db import Database
from tests.channels.messaging_support import channel, post, record_published
from tests.conftest import Live
from tests.factories import Cast
from tests.web.socket_support import Connector, connector

HIDDEN = {"conversation": None, "topic": ""}
SECRET_TOPIC = "acquisition of ACME"


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


async def move(db: Database, actor: Actor, source: int, topic: str, target: int) -> Any:
    async with db.transaction() as s:
        return await update_topic(s, actor, source, UpdateTopic(topic=topic, move_to_conversation=target))


async def test_the_destination_chain_hides_a_private_source(db: Database, cast: Cast) -> None:
    board = await channel(db, cast.alice, "board", kind="private")
    general = await channel(db, cast.alice, "general", members=[cast.carol])
    message = await post(db, cast.alice, board, "we sign on Friday", topic=SECRET_TOPIC)
    published = record_published(db)
    moved = await move(db, cast.alice, board, SECRET_TOPIC, general)
    assert (moved.previous_conversation, moved.previous_topic) == (board, SECRET_TOPIC)  # the mover sees both
    in_source, in_destination = published
    assert (in_source.conversation, in_destination.conversation) == (board, general)
    assert in_source.data["from"] == {"conversation": board, "topic": SECRET_TOPIC}
    assert in_source.data["to"] == {"conversation": general, "topic": SECRET_TOPIC}  # a public channel is named
    assert in_destination.data["from"] == HIDDEN
    assert in_destination.data["to"] == {"conversation": general, "topic": SECRET_TOPIC}
    async with db.read() as s:
        page = await events_since(s, cast.carol, 0, limit=1000)
        history = await message_history(s, cast.carol, message.id)
    assert str(board) not in json.dumps([e.conversation for e in page.events])
    assert all(e.data.get("from") != in_source.data["from"] for e in page.events)
    assert [(r.conversation, r.topic) for r in history.revisions] == [(None, ""), (general, SECRET_TOPIC)]


async def test_the_source_chain_hides_a_private_destination(db: Database, cast: Cast) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.carol])
    board = await channel(db, cast.alice, "board", kind="private")
    await post(db, cast.alice, general, "this goes upstairs", topic="pricing")
    published = record_published(db)
    await move(db, cast.alice, general, "pricing", board)
    in_source, in_destination = published
    assert in_source.conversation == general and in_source.data["to"] == HIDDEN
    assert in_destination.data["from"] == {"conversation": general, "topic": "pricing"}


async def test_between_two_public_channels_both_sides_are_named(db: Database, cast: Cast) -> None:
    general = await channel(db, cast.alice, "general")
    news = await channel(db, cast.alice, "news")
    await post(db, cast.alice, general, topic="launch")
    published = record_published(db)
    await move(db, cast.alice, general, "launch", news)
    assert [e.data["from"]["conversation"] for e in published] == [general, general]
    assert [e.data["to"]["conversation"] for e in published] == [news, news]


async def test_destination_members_learn_nothing_over_the_wire(
    db: Database, cast: Cast, live: Live, connect: Connector
) -> None:
    """carol is only in the public destination: her socket and her GET /events never carry the group."""
    board = await channel(db, cast.alice, "board", kind="private")
    general = await channel(db, cast.alice, "general", members=[cast.carol])
    await post(db, cast.alice, board, "we sign on Friday", topic=SECRET_TOPIC.upper())
    carol = await connect(cast.carol)
    start = len(carol.log)
    await move(db, cast.alice, board, SECRET_TOPIC.upper(), general)
    frame = await carol.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "topic.moved", start=start)
    assert frame["event"]["conversation"] == general and frame["event"]["data"]["from"] == HIDDEN
    marker = await post(db, cast.alice, general, "after the move", topic="after")
    await carol.wait_for(
        lambda f: f["type"] == "event" and f["event"]["data"].get("message", {}).get("id") == marker.id
    )
    async with httpx2.AsyncClient(base_url=live.base_url) as http:
        headers = {"Authorization": f"Bearer {await connect.token(cast.carol)}"}
        page = (await http.get("/api/v1/events", params={"after": 0, "limit": 1000}, headers=headers)).json()
    moved = [e for e in page["events"] if e["kind"] == "topic.moved"]
    assert [e["data"]["from"] for e in moved] == [HIDDEN]
    leak = re.compile(rf'"conversation": {board}[,}}]')
    assert not leak.search(json.dumps(carol.log)), "the websocket named the group"
    assert not leak.search(json.dumps(page)), "GET /events named the group"

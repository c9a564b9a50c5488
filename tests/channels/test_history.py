"""History pages, single messages, revisions and topic lists; a pinned query count; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from chat.channels.history import get_message, list_messages, list_topics, message_history
from chat.channels.message_commands import DeleteMessage, EditMessage, MarkRead, SetTopicVisibility
from chat.channels.messages import delete_message, edit_message, react
from chat.channels.reads import mark_read
from chat.channels.topics import set_topic_visibility
from chat.domain.actors import Actor
from chat.errors import Invalid, NotFound
from chat.store.db import Database
from tests.channels.messaging_support import channel, count_queries, post
from tests.factories import Cast


async def page(db: Database, actor: Actor, cid: int, **kw: object) -> tuple[list[str], bool, bool]:
    async with db.read() as s:
        result = await list_messages(s, actor, cid, **kw)  # type: ignore[arg-type]
    return [m.body for m in result.messages], result.has_more_before, result.has_more_after


async def test_pages_are_anchored_on_message_ids_and_read_oldest_to_newest(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    ids = [(await post(db, cast.alice, sales, f"m{i:02}", topic="even" if i % 2 == 0 else "odd")).id for i in range(25)]
    names = [f"m{i:02}" for i in range(25)]
    assert await page(db, cast.bob, sales, limit=10) == (names[15:], True, False)
    assert await page(db, cast.bob, sales, limit=10, before=ids[15]) == (names[5:15], True, True)
    assert await page(db, cast.bob, sales, limit=10, before=ids[5]) == (names[:5], False, True)
    assert await page(db, cast.bob, sales, limit=10, after=ids[4]) == (names[5:15], True, True)
    assert await page(db, cast.bob, sales, limit=10, after=ids[14]) == (names[15:], True, False)
    assert await page(db, cast.bob, sales, limit=10, after=0) == (names[:10], False, True)
    assert await page(db, cast.bob, sales) == (names, False, False)
    # one topic, without regard to case
    assert await page(db, cast.bob, sales, topic="ODD", limit=3) == (names[19::2], True, False)
    assert await page(db, cast.bob, sales, topic="odd", limit=3, before=ids[19]) == (names[13:19:2], True, True)
    assert await page(db, cast.bob, sales, topic="nothing") == ([], False, False)


async def test_bad_page_requests(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    secret = await channel(db, cast.alice, "secret", kind="private")
    for kw, code in (
        ({"limit": 201}, "out_of_range"),
        ({"limit": 0}, "out_of_range"),
        ({"before": 5, "after": 1}, "conflicting_anchors"),
    ):
        with pytest.raises(Invalid) as info:
            await page(db, cast.alice, sales, **kw)
        assert info.value.code == code
    assert len((await page(db, cast.alice, sales, limit=200))[0]) == 0
    with pytest.raises(NotFound) as hidden:
        await page(db, cast.bob, secret)
    with pytest.raises(NotFound) as missing:
        await page(db, cast.bob, 9999)
    assert hidden.value.to_dict() == missing.value.to_dict()


@pytest.mark.parametrize("size", [5, 60])
async def test_a_history_page_costs_a_fixed_number_of_statements(db: Database, cast: Cast, size: int) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    for i in range(size):
        message = await post(db, cast.alice if i % 2 else cast.bob, sales, f"m{i} @bob https://meet.jit.si/r{i}")
        for who, emoji in ((cast.bob, "👍"), (cast.carol, "👍"), (cast.carol, ":tada:")):
            async with db.transaction() as s:
                await react(s, who, message.id, emoji)
    async with db.read() as s:
        with count_queries(db) as newest:
            first = await list_messages(s, cast.carol, sales, limit=size)
        with count_queries(db) as anchored:
            await list_messages(s, cast.carol, sales, limit=size, before=first.messages[-1].id)
    assert len(first.messages) == size and all(len(m.reactions) == 2 for m in first.messages)
    assert all(m.meetings and m.mentions == [cast.bob.id] for m in first.messages)
    # the conversation with the membership, the page, all its reactions, all its attachments
    # (+ one EXISTS for the other side)
    assert len(newest) == 4, newest
    assert len(anchored) == 5, anchored


async def test_a_single_message_and_its_revisions(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    secret = await channel(db, cast.alice, "secret", kind="private")
    message = await post(db, cast.bob, sales, "v1")
    async with db.transaction() as s:
        await edit_message(s, cast.bob, message.id, EditMessage("v2 **bold**"))
    async with db.read() as s:
        shown = await get_message(s, cast.alice, message.id)
        history = await message_history(s, cast.alice, message.id)
    assert shown.body == "v2 **bold**" and shown.edited_at is not None
    assert [(r.number, r.kind, r.body) for r in history.revisions] == [
        (1, "posted", "v1"),
        (2, "edited", "v2 **bold**"),
    ]
    assert "<strong>bold</strong>" in history.revisions[1].html
    assert history.revisions[0].created_at <= history.revisions[1].created_at
    hidden = await post(db, cast.alice, secret, "x")
    async with db.read() as s:
        for target in (hidden.id, 999_999):
            with pytest.raises(NotFound) as info:
                await get_message(s, cast.bob, target)
            assert info.value.code == "message_not_found"


async def test_deleted_messages_are_tombstones_in_history(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    kept = await post(db, cast.bob, sales, "kept")
    gone = await post(db, cast.bob, sales, "gone")
    async with db.transaction() as s:
        await delete_message(s, cast.alice, gone.id, DeleteMessage(reason="off topic"))
    async with db.read() as s:
        result = await list_messages(s, cast.bob, sales)
    assert [m.id for m in result.messages] == [kept.id, gone.id]
    tomb = result.messages[1]
    assert tomb.body == "" and tomb.deleted is not None and tomb.deleted.reason == "off topic"


async def test_topic_list_shows_counts_last_message_unread_resolved_and_mode(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    a1 = await post(db, cast.alice, sales, topic="alpha")
    await post(db, cast.alice, sales, topic="✔ done")
    a2 = await post(db, cast.alice, sales, topic="ALPHA")
    gone = await post(db, cast.alice, sales, topic="alpha")
    async with db.transaction() as s:
        await delete_message(s, cast.alice, gone.id, DeleteMessage())
        await mark_read(s, cast.bob, sales, MarkRead(up_to_message_id=a1.id))
    async with db.transaction() as s:
        await set_topic_visibility(s, cast.bob, sales, "alpha", SetTopicVisibility(mode="followed"))
    async with db.read() as s:
        listed = (await list_topics(s, cast.bob, sales)).topics
        outsider = (await list_topics(s, cast.carol, sales)).topics  # can see a public channel, not a member
    assert [(t.topic, t.message_count, t.last_message_id, t.unread, t.resolved, t.mode) for t in listed] == [
        ("alpha", 2, a2.id, 1, False, "followed"),
        ("✔ done", 1, a2.id - 1, 1, True, "default"),
    ]
    assert listed[0].last_message_at == a2.created_at
    assert [(t.topic, t.unread) for t in outsider] == [("alpha", 0), ("✔ done", 0)]

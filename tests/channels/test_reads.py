"""Read markers and unread counts, with several readers, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from chat.channels.commands import AddMember
from chat.channels.conversations import add_member
from chat.channels.feed import events_since
from chat.channels.history import list_topics
from chat.channels.message_commands import DeleteMessage, MarkRead, SetTopicVisibility
from chat.channels.messages import delete_message
from chat.channels.reads import ReadState, UnreadCounts, mark_read, unread_counts
from chat.channels.topics import set_topic_visibility
from chat.domain.actors import Actor
from chat.errors import Invalid, NotFound
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, direct, post, record_published
from tests.factories import Cast


async def read(db: Database, actor: Actor, cid: int, up_to: int, topic: str | None = None) -> ReadState:
    async with db.transaction() as s:
        return await mark_read(s, actor, cid, MarkRead(up_to_message_id=up_to, topic=topic))


async def unread(db: Database, actor: Actor, *cids: int) -> dict[int, UnreadCounts]:
    async with db.read() as s:
        return await unread_counts(s, actor.id, cids)


def per_topic(counts: UnreadCounts) -> dict[str, int]:
    return {t.topic: t.count for t in counts.topics}


async def test_each_reader_has_their_own_unread_counts(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    ids = [(await post(db, cast.alice, sales, f"m{i}", topic="Q3" if i % 2 else "food")).id for i in range(6)]
    await post(db, cast.bob, sales, "bob's own", topic="Q3")
    await read(db, cast.bob, sales, ids[2])  # bob read m0..m2
    await read(db, cast.carol, sales, ids[4], topic="Q3")  # carol read Q3 up to m4 (m1, m3)

    bob, carol, alice = [(await unread(db, who, sales))[sales] for who in (cast.bob, cast.carol, cast.alice)]
    assert (bob.unread, per_topic(bob)) == (3, {"Q3": 2, "food": 1})  # m3, m5 / m4 (his own message never counts)
    assert (carol.unread, per_topic(carol)) == (5, {"food": 3, "Q3": 2})  # m0 m2 m4 / m5 and bob's
    assert (alice.unread, per_topic(alice)) == (1, {"Q3": 1})  # only bob's
    async with db.read() as s:
        topics = {t.topic: t.unread for t in (await list_topics(s, cast.carol, sales)).topics}
    assert topics == {"Q3": 2, "food": 3}


async def test_markers_only_move_forward_and_never_past_the_newest_message(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    ids = [(await post(db, cast.alice, sales, f"m{i}")).id for i in range(3)]
    published = record_published(db)
    moved = await read(db, cast.bob, sales, 10**12)
    assert (moved.up_to_message_id, moved.changed) == (ids[-1], True)
    before = await counts(db)
    back = await read(db, cast.bob, sales, ids[0])
    assert (back.up_to_message_id, back.changed) == (ids[-1], False) and await counts(db) == before
    [event] = published
    assert (event.kind, event.audience, event.subject_id, event.conversation) == (
        "read.updated",
        "subject",
        cast.bob.id,
        None,
    )
    assert event.data == {"conversation": sales, "topic": None, "up_to_message_id": ids[-1]}
    later = await post(db, cast.alice, sales, "new")
    assert (await unread(db, cast.bob, sales))[sales].unread == 1 and later.id > ids[-1]
    async with db.read() as s:
        alice_kinds = [e.kind for e in (await events_since(s, cast.alice, 0)).events]
    assert "read.updated" not in alice_kinds


async def test_a_whole_conversation_marker_covers_topic_markers(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    a = await post(db, cast.alice, sales, topic="a")
    b = await post(db, cast.alice, sales, topic="b")
    await read(db, cast.bob, sales, b.id, topic="b")
    assert per_topic((await unread(db, cast.bob, sales))[sales]) == {"a": 1}
    assert not (await read(db, cast.bob, sales, b.id, topic="b")).changed
    await read(db, cast.bob, sales, a.id)
    assert (await unread(db, cast.bob, sales))[sales].unread == 0
    assert not (await read(db, cast.bob, sales, a.id, topic="a")).changed


async def test_muted_topics_do_not_count_toward_the_total(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    for topic in ("noise", "noise", "work"):
        await post(db, cast.alice, sales, topic=topic)
    async with db.transaction() as s:
        await set_topic_visibility(s, cast.bob, sales, "noise", SetTopicVisibility(mode="muted"))
    counts_ = (await unread(db, cast.bob, sales))[sales]
    assert (counts_.unread, counts_.unread_with_muted) == (1, 3)
    assert {(t.topic, t.count, t.muted) for t in counts_.topics} == {("noise", 2, True), ("work", 1, False)}


async def test_deleted_messages_and_history_before_joining_are_not_unread(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await post(db, cast.alice, sales, "before carol")
    gone = await post(db, cast.alice, sales, "deleted")
    async with db.transaction() as s:
        await delete_message(s, cast.alice, gone.id, DeleteMessage())
    assert (await unread(db, cast.bob, sales))[sales].unread == 1
    async with db.transaction() as s:
        await add_member(s, cast.carol, sales, AddMember(user_id=cast.carol.id))
    assert (await unread(db, cast.carol, sales))[sales].unread == 0
    await post(db, cast.alice, sales, "after carol")
    assert (await unread(db, cast.carol, sales))[sales].unread == 1


async def test_counts_for_many_conversations_at_once(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    empty = await channel(db, cast.alice, "empty", members=[cast.bob])
    dm = await direct(db, cast.alice, cast.bob)
    secret = await channel(db, cast.alice, "secret", kind="private")
    await post(db, cast.alice, sales)
    await post(db, cast.alice, dm, "psst", topic="")
    await post(db, cast.alice, dm, "psst again", topic="")
    await post(db, cast.alice, secret, "not for bob")
    result = await unread(db, cast.bob, sales, empty, dm, secret)
    assert {cid: c.unread for cid, c in result.items()} == {sales: 1, empty: 0, dm: 2, secret: 0}
    assert per_topic(result[dm]) == {"": 2}
    assert await unread(db, cast.bob) == {}


async def test_bad_read_requests(db: Database, cast: Cast) -> None:
    secret = await channel(db, cast.alice, "secret", kind="private")
    dm = await direct(db, cast.alice, cast.bob)
    before = await counts(db)
    with pytest.raises(NotFound) as hidden:
        await read(db, cast.bob, secret, 1)
    with pytest.raises(Invalid) as topic_in_dm:
        await read(db, cast.bob, dm, 1, topic="x")
    with pytest.raises(Invalid) as negative:
        MarkRead(up_to_message_id=-1)
    assert (hidden.value.code, topic_in_dm.value.code, negative.value.code) == (
        "conversation_not_found",
        "topic_not_allowed",
        "out_of_range",
    )
    assert await counts(db) == before

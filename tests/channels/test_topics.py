"""Renaming, resolving and moving topics; per-user mute and follow; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from chat.archive.audit import verify_log
from chat.channels.feed import events_since
from chat.channels.history import get_message, list_messages, list_topics, message_history
from chat.channels.message_commands import EditMessage, SetTopicVisibility, UpdateTopic
from chat.channels.messages import edit_message, react
from chat.channels.topics import set_topic_visibility, update_topic
from chat.domain.actors import Actor
from chat.errors import ChatError, Forbidden, Invalid, NotFound
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, direct, post, record_published
from tests.factories import Cast


async def change(db: Database, actor: Actor, conversation_id: int, **kw: Any) -> Any:
    async with db.transaction() as s:
        return await update_topic(s, actor, conversation_id, UpdateTopic(**kw))


async def refused(db: Database, exc: type[ChatError], code: str, actor: Actor, cid: int, **kw: Any) -> None:
    before = await counts(db)
    with pytest.raises(exc) as info:
        await change(db, actor, cid, **kw)
    assert info.value.code == code, info.value.to_dict()
    assert await counts(db) == before


async def topics_of(db: Database, actor: Actor, cid: int) -> dict[str, int]:
    async with db.read() as s:
        return {t.topic: t.message_count for t in (await list_topics(s, actor, cid)).topics}


async def test_rename_a_whole_topic_keeps_ids_and_records_a_revision(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    first = await post(db, cast.bob, sales, "one", topic="Q3")
    second = await post(db, cast.alice, sales, "two", topic="q3")
    await post(db, cast.alice, sales, "other", topic="misc")
    published = record_published(db)
    result = await change(db, cast.bob, sales, topic="Q3", new_name="Q3 tender")
    assert (result.topic, result.message_ids, result.changed) == ("Q3 tender", [first.id, second.id], True)
    [event] = published
    assert event.kind == "topic.renamed" and event.conversation == sales
    assert event.data == {
        "from": {"conversation": sales, "topic": "Q3"},
        "to": {"conversation": sales, "topic": "Q3 tender"},
        "scope": "all",
        "message_ids": [first.id, second.id],
    }
    assert await topics_of(db, cast.bob, sales) == {"Q3 tender": 2, "misc": 1}
    async with db.read() as s:
        history = await message_history(s, cast.bob, first.id)
    assert [(r.kind, r.topic, r.editor) for r in history.revisions] == [
        ("posted", "Q3", cast.bob.id),
        ("moved", "Q3 tender", cast.bob.id),
    ]


async def test_renaming_into_an_existing_topic_takes_its_spelling(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    await post(db, cast.alice, sales, topic="Budget")
    await post(db, cast.alice, sales, topic="draft")
    result = await change(db, cast.alice, sales, topic="draft", new_name="BUDGET")
    assert result.topic == "Budget" and await topics_of(db, cast.alice, sales) == {"Budget": 2}
    case_only = await change(db, cast.alice, sales, topic="budget", new_name="BuDgEt", scope="one", message_id=1)
    assert (
        case_only.topic == "BuDgEt"
        and case_only.message_ids
        and await topics_of(db, cast.alice, sales) == {"BuDgEt": 2}
    )


async def test_resolve_and_unresolve_follow_zulips_convention(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    await post(db, cast.bob, sales, topic="outage")
    published = record_published(db)
    resolved = await change(db, cast.carol, sales, topic="outage", resolved=True)  # carol never wrote in it
    assert (resolved.topic, resolved.resolved) == ("✔ outage", True)
    before = await counts(db)
    again = await change(db, cast.carol, sales, topic="✔ OUTAGE", resolved=True)
    assert not again.changed and await counts(db) == before
    back = await change(db, cast.bob, sales, topic="✔ outage", resolved=False)
    assert (back.topic, back.resolved) == ("outage", False)
    assert [e.kind for e in published] == ["topic.resolved", "topic.unresolved"]
    long_name = "x" * 60
    await post(db, cast.bob, sales, topic=long_name)
    assert (await change(db, cast.bob, sales, topic=long_name, resolved=True)).topic == "✔ " + "x" * 58
    async with db.read() as s:
        summary = {t.topic: t.resolved for t in (await list_topics(s, cast.bob, sales)).topics}
    assert summary == {"outage": False, "✔ " + "x" * 58: True}


async def test_who_may_rename(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol, cast.maya, cast.gus])
    await post(db, cast.bob, sales, topic="plans")
    await post(db, cast.gus, sales, topic="plans")
    await refused(db, Forbidden, "not_allowed", cast.carol, sales, topic="plans", new_name="x")  # not a participant
    await refused(db, Forbidden, "not_allowed", cast.gus, sales, topic="plans", new_name="x")  # a guest
    outsider = await channel(db, cast.carol, "outsiders")
    await refused(db, NotFound, "topic_not_found", cast.carol, outsider, topic="plans", new_name="x")
    assert (await change(db, cast.bob, sales, topic="plans", new_name="bob's")).topic == "bob's"
    assert (await change(db, cast.maya, sales, topic="bob's", new_name="maya's")).topic == "maya's"


async def test_move_a_topic_into_a_private_group_hides_it_from_those_outside(db: Database, cast: Cast) -> None:
    public = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    private = await channel(db, cast.alice, "board", kind="private", members=[cast.carol])
    first = await post(db, cast.alice, public, "numbers", topic="Q3")
    second = await post(db, cast.carol, public, "more numbers", topic="Q3")
    await post(db, cast.bob, public, "lunch?", topic="food")
    async with db.transaction() as s:
        await react(s, cast.bob, first.id, "👍")
    async with db.transaction() as s:
        await edit_message(s, cast.alice, first.id, EditMessage("numbers, edited"))
    published = record_published(db)
    moved = await change(db, cast.alice, public, topic="q3", move_to_conversation=private)
    assert (moved.conversation, moved.topic, moved.message_ids) == (private, "Q3", [first.id, second.id])
    assert [(e.kind, e.conversation) for e in published] == [("topic.moved", public), ("topic.moved", private)]
    async with db.read() as s:
        bob_page = await list_messages(s, cast.bob, public)
        bob_feed = (await events_since(s, cast.bob, 0, limit=1000)).events
        carol_page = await list_messages(s, cast.carol, private)
        carol_message = await get_message(s, cast.carol, first.id)
        with pytest.raises(NotFound) as hidden:
            await get_message(s, cast.bob, first.id)
        with pytest.raises(NotFound):
            await message_history(s, cast.bob, first.id)
        report = await verify_log(s)
    assert [m.body for m in bob_page.messages] == ["lunch?"]
    assert hidden.value.code == "message_not_found"
    about_moved = [e for e in bob_feed if e.data.get("message_id") in (first.id, second.id)]
    posted_ids = [e.data["message"]["id"] for e in bob_feed if e.kind == "message.posted"]
    assert about_moved == [] and first.id not in posted_ids and second.id not in posted_ids
    assert [e.kind for e in bob_feed if e.kind.startswith("topic.")] == ["topic.moved"]  # he learns it left
    assert [m.id for m in carol_page.messages] == [first.id, second.id]
    assert carol_message.conversation == private and carol_message.reactions[0].emoji == "👍"
    assert report.ok


async def test_move_one_or_later_messages(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    other = await channel(db, cast.alice, "other", members=[cast.bob])
    ids = [(await post(db, cast.bob, sales, f"m{i}", topic="t")).id for i in range(4)]
    one = await change(db, cast.bob, sales, topic="t", scope="one", message_id=ids[1], move_to_conversation=other)
    assert one.message_ids == [ids[1]]
    later = await change(db, cast.bob, sales, topic="t", new_name="split", scope="later", message_id=ids[2])
    assert later.message_ids == [ids[2], ids[3]] and later.topic == "split"
    assert await topics_of(db, cast.bob, sales) == {"split": 2, "t": 1}
    assert await topics_of(db, cast.bob, other) == {"t": 1}
    await refused(
        db, NotFound, "message_not_found", cast.bob, sales, topic="t", new_name="x", scope="one", message_id=ids[2]
    )


async def test_moving_other_peoples_messages_elsewhere_needs_a_moderator(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.maya])
    other = await channel(db, cast.alice, "other", members=[cast.bob, cast.maya])
    secret = await channel(db, cast.alice, "secret", kind="private")
    dm = await direct(db, cast.bob, cast.alice)
    await post(db, cast.alice, sales, topic="mixed")
    mine = await post(db, cast.bob, sales, topic="mixed")
    await refused(db, Forbidden, "not_allowed", cast.bob, sales, topic="mixed", move_to_conversation=other)
    await refused(db, NotFound, "conversation_not_found", cast.bob, sales, topic="mixed", move_to_conversation=secret)
    await refused(db, Invalid, "topic_not_allowed", cast.bob, sales, topic="mixed", move_to_conversation=dm)
    own = await change(db, cast.bob, sales, topic="mixed", scope="one", message_id=mine.id, move_to_conversation=other)
    assert own.conversation == other
    assert (await change(db, cast.maya, sales, topic="mixed", move_to_conversation=other)).topic == "mixed"
    assert await topics_of(db, cast.maya, other) == {"mixed": 2}


async def test_bad_topic_requests_change_nothing(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    await post(db, cast.alice, sales, topic="t")
    await refused(db, NotFound, "topic_not_found", cast.alice, sales, topic="nope", new_name="x")
    await refused(db, NotFound, "conversation_not_found", cast.alice, 9999, topic="t", new_name="x")
    for kw, code in (
        ({"topic": "t"}, "nothing_to_change"),
        ({"topic": "t", "new_name": "x", "scope": "one"}, "missing_field"),
        ({"topic": "t", "new_name": "y" * 61}, "too_long"),
        ({"topic": "t", "new_name": "   "}, "empty"),
    ):
        with pytest.raises(Invalid) as info:
            UpdateTopic(**kw)
        assert info.value.code == code


async def test_mute_and_follow_are_per_user_and_travel_with_the_topic(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    other = await channel(db, cast.alice, "other", members=[cast.bob])
    await post(db, cast.alice, sales, topic="Noise")
    published = record_published(db)
    async with db.transaction() as s:
        muted = await set_topic_visibility(s, cast.bob, sales, " noise ", SetTopicVisibility(mode="muted"))
    async with db.transaction() as s:
        same = await set_topic_visibility(s, cast.bob, sales, "NOISE", SetTopicVisibility(mode="muted"))
    assert (muted.topic, muted.mode, muted.changed, same.changed) == ("Noise", "muted", True, False)
    [event] = published
    assert (event.kind, event.audience, event.subject_id, event.conversation) == (
        "topic.visibility_changed",
        "subject",
        cast.bob.id,
        None,
    )
    async with db.read() as s:
        assert [t.mode for t in (await list_topics(s, cast.bob, sales)).topics] == ["muted"]
        assert [t.mode for t in (await list_topics(s, cast.alice, sales)).topics] == ["default"]
        alice_feed = (await events_since(s, cast.alice, 0)).events
    assert "topic.visibility_changed" not in [e.kind for e in alice_feed]
    await change(db, cast.alice, sales, topic="noise", move_to_conversation=other)
    async with db.read() as s:
        assert [t.mode for t in (await list_topics(s, cast.bob, other)).topics] == ["muted"]
    async with db.transaction() as s:
        reset = await set_topic_visibility(s, cast.bob, other, "noise", SetTopicVisibility(mode="default"))
    async with db.read() as s:
        rows = (await s.scalars(select(models.TopicState))).all()
    assert reset.changed and rows == []
    dm = await direct(db, cast.alice, cast.bob)
    with pytest.raises(Invalid):
        async with db.transaction() as s:
            await set_topic_visibility(s, cast.bob, dm, "x", SetTopicVisibility(mode="muted"))
    with pytest.raises(Invalid) as too_long:
        async with db.transaction() as s:
            await set_topic_visibility(s, cast.bob, sales, "x" * 61, SetTopicVisibility(mode="muted"))
    assert too_long.value.code == "too_long"

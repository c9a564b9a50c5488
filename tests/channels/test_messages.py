"""Posting, editing, deleting and reacting, through the domain actions, on SQLite and PostgreSQL.

Every change writes exactly one event in the same transaction; a refused or
invalid request changes no row (messages, revisions, reactions, events).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from chat.archive.audit import verify_log
from chat.channels.commands import UpdateConversation
from chat.channels.conversations import update_conversation
from chat.channels.feed import events_since
from chat.channels.history import get_message, message_history
from chat.channels.message_commands import DeleteMessage, EditMessage, PostMessage, is_emoji
from chat.channels.messages import Posted, delete_message, edit_message, post_message, react, unreact
from chat.errors import ChatError, Conflict, Forbidden, Invalid, NotFound
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, direct, post, record_published
from tests.factories import Cast


async def refused(db: Database, exc: type[ChatError], code: str, action: Any) -> ChatError:
    """``action(session)`` must raise ``exc`` with ``code`` and leave every row as it was."""
    before = await counts(db)
    with pytest.raises(exc) as info:
        async with db.transaction() as s:
            await action(s)
    assert info.value.code == code, info.value.to_dict()
    assert await counts(db) == before
    return info.value


# --- posting ----------------------------------------------------------------------------------


async def test_post_writes_the_message_its_first_revision_and_one_event(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    published = record_published(db)
    before = await counts(db)
    message = await post(db, cast.bob, sales, "**Q3** numbers, @alice", topic="  Q3   tender ")
    after = await counts(db)
    assert {k: after[k] - before[k] for k in after} == {
        "messages": 1,
        "revisions": 1,
        "reactions": 0,
        "events": 1,
        "topic_states": 0,
        "read_markers": 0,
    }
    assert message.topic == "Q3 tender" and message.author == cast.bob.id and message.conversation == sales
    assert "<strong>Q3</strong>" in message.html and message.mentions == [cast.alice.id]
    assert message.deleted is None and message.edited_at is None and message.reactions == []
    [event] = published
    assert event.kind == "message.posted" and event.conversation == sales
    assert (message.event_id, message.seq) == (event.id, event.seq)
    async with db.read() as s:
        row = await s.get(models.Event, event.id)
        stored = await s.get(models.Message, message.id)
    assert row is not None and stored is not None
    assert row.message_id == message.id and (stored.event_id, stored.seq) == (event.id, event.seq)
    assert "body" not in row.payload["message"] and "html" not in row.payload["message"]
    assert json.loads(row.body or "")["body"] == "**Q3** numbers, @alice"
    assert event.data["message"]["id"] == message.id and event.data["html"] == message.html


async def test_topics_match_without_regard_to_case_and_keep_their_first_spelling(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    first = await post(db, cast.alice, sales, topic="Q3 Tender")
    second = await post(db, cast.bob, sales, topic="q3   TENDER")
    assert first.topic == second.topic == "Q3 Tender"


async def test_direct_conversations_take_no_topic_and_channels_need_one(db: Database, cast: Cast) -> None:
    dm = await direct(db, cast.alice, cast.bob)
    message = await post(db, cast.alice, dm, "hi bob", topic="")
    assert message.topic == ""
    await refused(
        db,
        Invalid,
        "topic_not_allowed",
        lambda s: post_message(s, cast.alice, dm, PostMessage(body="x", nonce="a", topic="nope")),
    )
    sales = await channel(db, cast.alice, "sales")
    await refused(
        db, Invalid, "topic_required", lambda s: post_message(s, cast.alice, sales, PostMessage(body="x", nonce="b"))
    )


async def test_a_retried_nonce_returns_the_stored_message_and_stores_nothing(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    cmd = PostMessage(body="once", nonce="retry-1", topic="t")
    async with db.transaction() as s:
        first = await post_message(s, cast.alice, sales, cmd)
    before = await counts(db)
    async with db.transaction() as s:
        again = await post_message(s, cast.alice, sales, PostMessage(body="once  ", nonce="retry-1", topic="T"))
    assert first.created and not again.created
    assert again.message == first.message
    assert await counts(db) == before


async def test_concurrent_retries_store_one_message(db: Database, cast: Cast) -> None:
    """Racing retries of one post (PostgreSQL: really concurrent) end with one message and one event."""
    sales = await channel(db, cast.alice, "sales")
    before = await counts(db)

    async def attempt() -> Posted:
        async with db.transaction() as s:
            return await post_message(s, cast.alice, sales, PostMessage(body="same", nonce="race", topic="t"))

    results = await asyncio.gather(*(attempt() for _ in range(4)))
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.message.id for r in results}) == 1
    after = await counts(db)
    assert (after["messages"] - before["messages"], after["events"] - before["events"]) == (1, 1)


async def test_a_nonce_reused_for_something_else_is_a_conflict(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    other = await channel(db, cast.alice, "other")
    stored = await post(db, cast.alice, sales, "first", topic="t", nonce="n-1")
    for cid, body, topic in ((sales, "second", "t"), (sales, "first", "elsewhere"), (other, "first", "t")):
        error = await refused(
            db,
            Conflict,
            "nonce_reused",
            lambda s, cid=cid, body=body, topic=topic: post_message(
                s, cast.alice, cid, PostMessage(body=body, nonce="n-1", topic=topic)
            ),
        )
        assert error.data["message_id"] == stored.id
    # bob may use the same nonce: nonces are per author
    assert (await post(db, cast.bob, sales, "mine", nonce="n-1")).id != stored.id


@pytest.mark.parametrize("body", ["", "   ", "\n\t \n"])
async def test_empty_bodies_are_refused(db: Database, cast: Cast, body: str) -> None:
    sales = await channel(db, cast.alice, "sales")
    await refused(
        db,
        Invalid,
        "empty_body",
        lambda s: post_message(s, cast.alice, sales, PostMessage(body=body, nonce="e", topic="t")),
    )


async def test_a_body_over_the_limit_is_refused_with_the_limit_in_the_message(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    ok = await post(db, cast.alice, sales, "x" * 10_000)
    assert len(ok.body) == 10_000
    error = await refused(
        db,
        Invalid,
        "body_too_long",
        lambda s: post_message(s, cast.alice, sales, PostMessage(body="x" * 10_001, nonce="long", topic="t")),
    )
    assert "10000" in error.message and error.data["limit"] == 10_000
    small = await refused(
        db,
        Invalid,
        "body_too_long",
        lambda s: post_message(s, cast.alice, sales, PostMessage(body="abcdef", nonce="l2", topic="t"), max_chars=5),
    )
    assert small.data["limit"] == 5


def test_a_topic_over_sixty_characters_is_refused_by_the_command() -> None:
    with pytest.raises(Invalid) as info:
        PostMessage(body="x", nonce="n", topic="t" * 61)
    assert info.value.code == "too_long" and info.value.data == {"field": "topic", "limit": 60}
    assert PostMessage(body="x", nonce="n", topic=" " + "t" * 60 + "  ").topic == "t" * 60


async def test_unknown_and_invisible_conversations_answer_the_same_404(db: Database, cast: Cast) -> None:
    secret = await channel(db, cast.alice, "secret", kind="private")
    missing = await refused(
        db, NotFound, "conversation_not_found", lambda s: post_message(s, cast.bob, 9999, PostMessage("x", "n", "t"))
    )
    hidden = await refused(
        db, NotFound, "conversation_not_found", lambda s: post_message(s, cast.bob, secret, PostMessage("x", "n", "t"))
    )
    assert missing.to_dict() == hidden.to_dict()


async def test_non_members_and_archived_conversations_cannot_be_posted_in(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    await refused(db, Forbidden, "not_allowed", lambda s: post_message(s, cast.bob, sales, PostMessage("x", "n", "t")))
    async with db.transaction() as s:
        await update_conversation(s, cast.alice, sales, UpdateConversation(archived=True))
    await refused(
        db, Forbidden, "conversation_archived", lambda s: post_message(s, cast.alice, sales, PostMessage("x", "n", "t"))
    )


async def test_only_members_can_be_mentioned(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    message = await post(db, cast.alice, sales, "@bob and @carol and @gus and @nobody, @all")
    assert message.mentions == [cast.bob.id] and message.wildcard_mention == "all"
    assert f'data-user-id="{cast.bob.id}"' in message.html
    assert "@carol" in message.html and str(cast.carol.id) not in message.html


async def test_meet_posts_a_jitsi_link_with_a_join_card(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    async with db.transaction() as s:
        posted = await post_message(s, cast.alice, sales, PostMessage(body="/meet Weekly sync", nonce="m", topic="t"))
    message = posted.message
    assert message.body.startswith("Weekly sync: https://meet.jit.si/")
    assert message.has_meeting and [m.provider for m in message.meetings] == ["jitsi"]
    assert message.meetings[0].url == message.body.split(": ", 1)[1]
    async with db.transaction() as s:
        again = await post_message(s, cast.alice, sales, PostMessage(body="/meet Weekly sync", nonce="m", topic="t"))
    assert not again.created and again.message == message
    linked = await post(db, cast.alice, sales, "join https://zoom.us/j/123456789 now")
    assert linked.has_meeting and linked.has_link and [m.provider for m in linked.meetings] == ["zoom"]
    plain = await post(db, cast.alice, sales, "see https://example.com")
    assert plain.has_link and not plain.has_meeting and plain.meetings == []


# --- editing ----------------------------------------------------------------------------------


async def test_the_author_edits_and_every_revision_is_kept(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    message = await post(db, cast.bob, sales, "draft")
    published = record_published(db)
    for body in ("second", "third @alice"):
        async with db.transaction() as s:
            edited = await edit_message(s, cast.bob, message.id, EditMessage(body=body))
    assert edited.body == "third @alice" and edited.mentions == [cast.alice.id] and edited.edited_at is not None
    assert [e.kind for e in published] == ["message.edited", "message.edited"]
    assert published[-1].data["body"] == "third @alice" and published[-1].data["message_id"] == message.id
    async with db.read() as s:
        history = await message_history(s, cast.alice, message.id)
    assert [(r.number, r.kind, r.body, r.editor) for r in history.revisions] == [
        (1, "posted", "draft", cast.bob.id),
        (2, "edited", "second", cast.bob.id),
        (3, "edited", "third @alice", cast.bob.id),
    ]
    before = await counts(db)
    async with db.transaction() as s:
        same = await edit_message(s, cast.bob, message.id, EditMessage(body="third @alice\n"))
    assert same == edited and await counts(db) == before


async def test_editing_someone_elses_message_is_403_if_visible_and_404_if_not(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.maya])
    secret = await channel(db, cast.alice, "secret", kind="private")
    public_message = await post(db, cast.alice, sales, "mine")
    secret_message = await post(db, cast.alice, secret, "hidden")
    for who in (cast.bob, cast.maya, cast.carol):  # member, moderator, non-member who can see the channel
        await refused(
            db, Forbidden, "not_author", lambda s, who=who: edit_message(s, who, public_message.id, EditMessage("x"))
        )
    hidden = await refused(
        db, NotFound, "message_not_found", lambda s: edit_message(s, cast.bob, secret_message.id, EditMessage("x"))
    )
    missing = await refused(
        db, NotFound, "message_not_found", lambda s: edit_message(s, cast.bob, 999_999, EditMessage("x"))
    )
    assert hidden.to_dict() == missing.to_dict()
    await refused(
        db, Invalid, "empty_body", lambda s: edit_message(s, cast.alice, public_message.id, EditMessage("  "))
    )


# --- deleting ---------------------------------------------------------------------------------


async def test_delete_leaves_a_tombstone_and_keeps_the_audit_trail(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    message = await post(db, cast.bob, sales, "regrettable https://meet.jit.si/room @carol")
    async with db.transaction() as s:
        await react(s, cast.carol, message.id, "👍")
    await refused(db, Forbidden, "not_author", lambda s: delete_message(s, cast.carol, message.id, DeleteMessage()))
    published = record_published(db)
    async with db.transaction() as s:
        tomb = await delete_message(s, cast.bob, message.id, DeleteMessage(reason=" oops "))
    assert (tomb.body, tomb.html, tomb.reactions, tomb.meetings, tomb.mentions) == ("", "", [], [], [])
    assert tomb.deleted is not None and (tomb.deleted.by, tomb.deleted.reason) == (cast.bob.id, "oops")
    [event] = published
    assert event.kind == "message.deleted" and event.data["deleted"]["reason"] == "oops"
    async with db.read() as s:
        shown = await get_message(s, cast.carol, message.id)
        history = await message_history(s, cast.carol, message.id)
        row = await s.get(models.Message, message.id)
        posted = await s.get(models.Event, message.event_id)
        report = await verify_log(s)
    assert shown.deleted == tomb.deleted and shown.body == "" and history.revisions == []
    assert row is not None and row.body == "" and row.html == "" and not row.has_meeting
    assert posted is not None and "regrettable" in (posted.body or "")  # the audit archive keeps it
    assert report.ok
    before = await counts(db)
    async with db.transaction() as s:
        again = await delete_message(s, cast.bob, message.id, DeleteMessage(reason="twice"))
    assert again.deleted == tomb.deleted and await counts(db) == before
    await refused(db, Conflict, "message_deleted", lambda s: edit_message(s, cast.bob, message.id, EditMessage("x")))
    await refused(db, Conflict, "message_deleted", lambda s: react(s, cast.bob, message.id, "👍"))


async def test_moderators_delete_other_peoples_messages_with_a_reason(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    message = await post(db, cast.bob, sales, "spam")
    async with db.transaction() as s:  # maya is a moderator and not even a member: she can see a public channel
        tomb = await delete_message(s, cast.maya, message.id, DeleteMessage(reason="spam"))
    assert tomb.deleted is not None and (tomb.deleted.by, tomb.deleted.reason) == (cast.maya.id, "spam")
    secret = await channel(db, cast.bob, "secret", kind="private")
    hidden = await post(db, cast.bob, secret, "x")
    await refused(db, NotFound, "message_not_found", lambda s: delete_message(s, cast.maya, hidden.id, DeleteMessage()))


async def test_the_event_feed_does_not_serve_a_deleted_messages_text(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    message = await post(db, cast.alice, sales, "secret plans")
    async with db.transaction() as s:
        await delete_message(s, cast.alice, message.id, DeleteMessage())
    async with db.read() as s:
        page = await events_since(s, cast.bob, 0)
    assert all("secret plans" not in json.dumps(e.data) for e in page.events)


# --- reactions --------------------------------------------------------------------------------


async def test_reactions_are_unique_per_user_message_and_emoji(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    message = await post(db, cast.alice, sales, "ship it?")
    published = record_published(db)
    async with db.transaction() as s:
        first = await react(s, cast.bob, message.id, "👍")
    async with db.transaction() as s:
        again = await react(s, cast.bob, message.id, "👍")
    async with db.transaction() as s:
        await react(s, cast.carol, message.id, "👍")
    async with db.transaction() as s:
        await react(s, cast.carol, message.id, ":tada:")
    assert first.changed and not again.changed
    assert [e.kind for e in published] == ["reaction.added"] * 3
    async with db.read() as s:
        shown = await get_message(s, cast.alice, message.id)
    assert [(r.emoji, r.count, r.users) for r in shown.reactions] == [
        ("👍", 2, [cast.bob.id, cast.carol.id]),
        (":tada:", 1, [cast.carol.id]),
    ]
    async with db.transaction() as s:
        removed = await unreact(s, cast.bob, message.id, "👍")
    async with db.transaction() as s:
        absent = await unreact(s, cast.bob, message.id, "👍")
    assert removed.changed and not absent.changed
    assert [(r.emoji, r.users) for r in absent.reactions] == [("👍", [cast.carol.id]), (":tada:", [cast.carol.id])]
    assert [e.kind for e in published][-1] == "reaction.removed" and len(published) == 4
    assert published[-1].data == {"message_id": message.id, "emoji": "👍", "user": cast.bob.id}


async def test_a_reaction_that_is_not_an_emoji_is_refused(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    message = await post(db, cast.alice, sales, "x")
    for bad in ("a", "👍👍", "<b>", ":Bad:"):
        await refused(db, Invalid, "not_an_emoji", lambda s, bad=bad: react(s, cast.alice, message.id, bad))
    await refused(db, Forbidden, "not_allowed", lambda s: react(s, cast.bob, message.id, "👍"))  # not a member


ACCEPTED = ["👍", "👍🏽", "❤️", "👨\u200d👩\u200d👧", "🏳️\u200d🌈", "🇫🇷", "1️⃣", "#⃣", "©️", "★"]
ACCEPTED += ["🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", ":thumbs_up:", ":+1:", ":a-b_c:"]
REFUSED = [
    "",
    "a",
    "1",
    "👍👍",
    "🇫",
    "🇫🇷🇫🇷",
    " 👍",
    "👍 ",
    "\u200d",
    "👍\u200d",
    ":Thumbs:",
    "::",
    ":" + "a" * 33 + ":",
]
REFUSED += ["<script>", "🏽", "\ufe0f", "x\u20e3", "👍" * 17, "a:b:", ":a b:"]


@pytest.mark.parametrize("value", ACCEPTED)
def test_emoji_accepted(value: str) -> None:
    assert is_emoji(value)


@pytest.mark.parametrize("value", REFUSED)
def test_emoji_refused(value: str) -> None:
    assert not is_emoji(value)


async def test_message_events_are_seen_only_by_members(db: Database, cast: Cast) -> None:
    secret = await channel(db, cast.alice, "secret", kind="private", members=[cast.bob])
    message = await post(db, cast.alice, secret, "for bob")
    async with db.transaction() as s:
        await react(s, cast.bob, message.id, "👀")
    async with db.read() as s:
        bob = [e.kind for e in (await events_since(s, cast.bob, 0)).events if e.conversation == secret]
        carol = [e.kind for e in (await events_since(s, cast.carol, 0)).events if e.conversation == secret]
        rows = (await s.scalars(select(models.Event.message_id).where(models.Event.kind.like("%.%ed")))).all()
    assert bob[-2:] == ["message.posted", "reaction.added"] and carol == []
    assert message.id in rows

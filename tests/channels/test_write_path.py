"""What a post, an edit and a reaction cost in statements on the write path (issue 10, point 2).

On SQLite the writer remembers the conversation's standing (kind, state, members),
its topics' spellings and each chain's head, so a warm post is four statements:
the message (``INSERT … ON CONFLICT DO NOTHING RETURNING``), its event, the event's
id on the message, the first revision. PostgreSQL, where another process may change
membership at any moment, reads access and the chain head in the transaction.
"""

from __future__ import annotations

import pytest

from chat.archive.audit import verify_log
from chat.channels.commands import AddMember
from chat.channels.conversations import add_member, remove_member
from chat.channels.message_commands import EditMessage, PostMessage, UpdateTopic
from chat.channels.messages import edit_message, post_message, react
from chat.channels.topics import update_topic
from chat.errors import NotFound
from chat.store.db import Database
from tests.channels.messaging_support import channel, count_queries, post
from tests.factories import Cast


def verbs(statements: list[str]) -> list[str]:
    return [" ".join(s.split()[:3]).upper() for s in statements]


async def test_a_warm_post_is_four_statements(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await post(db, cast.bob, sales, "warm up", topic="Q3")  # the writer learns the conversation and topic
    async with db.transaction() as s:
        with count_queries(db) as statements:
            posted = await post_message(s, cast.bob, sales, PostMessage(body="*hello*", nonce="p1", topic="q3"))
    assert posted.created and posted.message.topic == "Q3" and posted.message.seq is not None
    read_in_transaction = [
        "SELECT CONVERSATIONS.ID, CONVERSATIONS.KIND,",  # access: the conversation with the membership
        "SELECT MESSAGES.TOPIC FROM",  # the topic's first spelling
    ]
    assert verbs(statements) == [
        *([] if db.is_sqlite else read_in_transaction),
        "INSERT INTO MESSAGES",
        *([] if db.is_sqlite else ["SELECT PG_ADVISORY_XACT_LOCK($1)", "SELECT EVENTS.SEQ, EVENTS.HASH"]),
        "INSERT INTO EVENTS",
        "UPDATE MESSAGES SET",
        "INSERT INTO MESSAGE_REVISIONS",
    ], statements


async def test_a_mention_costs_one_more_statement(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    await post(db, cast.bob, sales, "warm up", topic="Q3")
    async with db.transaction() as s:
        with count_queries(db) as statements:
            posted = await post_message(s, cast.bob, sales, PostMessage(body="hi @carol", nonce="p2", topic="Q3"))
    assert posted.message.mentions == [cast.carol.id]
    assert len(statements) == (5 if db.is_sqlite else 9), statements


async def test_an_edit_and_a_reaction_cost_a_fixed_number_of_statements(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    message = await post(db, cast.bob, sales, "first", topic="Q3")
    async with db.transaction() as s:
        with count_queries(db) as edit:
            await edit_message(s, cast.bob, message.id, EditMessage(body="second"))
    async with db.transaction() as s:
        with count_queries(db) as reaction:
            await react(s, cast.bob, message.id, "👍")
    # edit: the message, its conversation with the membership, UPDATE, revision, reactions, attachments, event;
    # reaction: the message, its conversation with the membership, INSERT … ON CONFLICT DO NOTHING,
    # event, the reactions. PostgreSQL adds the event lock and the chain head.
    assert verbs(edit) == [
        "SELECT MESSAGES.ID, MESSAGES.CONVERSATION_ID,",
        "SELECT CONVERSATIONS.ID, CONVERSATIONS.KIND,",
        "UPDATE MESSAGES SET",
        "INSERT INTO MESSAGE_REVISIONS",
        "SELECT REACTIONS.MESSAGE_ID, REACTIONS.EMOJI,",
        "SELECT MESSAGE_ATTACHMENTS.MESSAGE_ID, UPLOADS.ID,",
        *([] if db.is_sqlite else ["SELECT PG_ADVISORY_XACT_LOCK($1)", "SELECT EVENTS.SEQ, EVENTS.HASH"]),
        "INSERT INTO EVENTS",
    ], edit
    assert verbs(reaction) == [
        "SELECT MESSAGES.ID, MESSAGES.CONVERSATION_ID,",
        "SELECT CONVERSATIONS.ID, CONVERSATIONS.KIND,",
        "INSERT INTO REACTIONS",
        *([] if db.is_sqlite else ["SELECT PG_ADVISORY_XACT_LOCK($1)", "SELECT EVENTS.SEQ, EVENTS.HASH"]),
        "INSERT INTO EVENTS",
        "SELECT REACTIONS.MESSAGE_ID, REACTIONS.EMOJI,",
    ], reaction


async def test_what_the_writer_remembers_follows_membership(db: Database, cast: Cast) -> None:
    """A member removed, a member added, a topic renamed: the next post sees it at once."""
    group = await channel(db, cast.alice, "deal", kind="private", members=[cast.bob])
    await post(db, cast.bob, group, "in", topic="Q3")
    async with db.transaction() as s:
        await remove_member(s, cast.alice, group, cast.bob.id)
    with pytest.raises(NotFound) as refused:
        await post(db, cast.bob, group, "still here?", topic="Q3")
    assert refused.value.code == "conversation_not_found"
    async with db.transaction() as s:
        await add_member(s, cast.alice, group, AddMember(user_id=cast.carol.id))
    assert (await post(db, cast.carol, group, "hello", topic="q3")).topic == "Q3"
    async with db.transaction() as s:
        await update_topic(s, cast.alice, group, UpdateTopic(topic="Q3", new_name="Budget"))
    assert (await post(db, cast.carol, group, "renamed", topic="budget")).topic == "Budget"
    assert (await post(db, cast.carol, group, "a new Q3", topic="q3")).topic == "q3"


async def test_a_write_by_another_connection_is_seen_by_the_next_post(db: Database, cast: Cast) -> None:
    """The SQLite writer forgets what it remembers when another connection commits (PRAGMA data_version)."""
    group = await channel(db, cast.alice, "deal", kind="private", members=[cast.bob])
    await post(db, cast.bob, group, "in", topic="Q3")
    other = Database(db.url)  # another process's connection, or the CLI's
    try:
        async with other.transaction() as s:
            await remove_member(s, cast.alice, group, cast.bob.id)
            await post_message(s, cast.alice, group, PostMessage(body="behind its back", nonce="o1", topic="Q3"))
    finally:
        await other.dispose()
    with pytest.raises(NotFound):
        await post(db, cast.bob, group, "still here?", topic="Q3")
    after = await post(db, cast.alice, group, "chain goes on", topic="Q3")  # the chain head is read again
    assert after.seq is not None
    async with db.read() as s:
        assert (await verify_log(s, group)).ok

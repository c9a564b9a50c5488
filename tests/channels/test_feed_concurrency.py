"""Resume never skips an event, even with concurrent writers (PostgreSQL commits out of id order).

Many writers append events to several conversations at once while a reader
follows the log with ``events_since``, like a resuming client. Every event
must be seen exactly once, in id order.
"""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import select

from chat.channels.feed import events_since
from chat.domain.events import append_event
from chat.store import models
from chat.store.db import Database
from tests.factories import Cast

WRITERS = 8
EVENTS_PER_WRITER = 25


async def test_reader_following_concurrent_writers_sees_every_event_once(db: Database, cast: Cast) -> None:
    # alice follows three conversations: make her a member of each (rows only; the feed reads memberships)
    conversations = []
    async with db.transaction() as s:
        for name in ("north", "south", "east"):
            conv = models.Conversation(kind="public", name=name, name_key=name, created_by=cast.alice.id)
            s.add(conv)
            await s.flush()
            s.add(models.Membership(conversation_id=conv.id, user_id=cast.alice.id))
            conversations.append(conv.id)

    rng = random.Random(7)  # noqa: S311 - test data, not security

    async def writer(w: int) -> None:
        for i in range(EVENTS_PER_WRITER):
            async with db.transaction() as s:
                await append_event(
                    s,
                    kind="test.tick",
                    actor_id=cast.alice.id,
                    conversation_id=rng.choice(conversations),
                    data={"writer": w, "i": i},
                )
                # hold the transaction open a little so commits interleave
                await asyncio.sleep(rng.random() / 500)

    seen: list[int] = []
    done = asyncio.Event()

    async def reader() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            async with db.read() as s:
                page = await events_since(s, cast.alice, cursor, limit=50)
            seen.extend(e.id for e in page.events if e.kind == "test.tick")
            cursor = page.last_event_id
            if finished and not page.has_more:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    done.set()
    await reading

    async with db.read() as s:
        stored = (
            await s.scalars(select(models.Event.id).where(models.Event.kind == "test.tick").order_by(models.Event.id))
        ).all()
    assert len(stored) == WRITERS * EVENTS_PER_WRITER
    assert seen == list(stored)  # every event, once, in order


async def test_seq_is_gap_free_per_conversation_under_concurrency(db: Database, cast: Cast) -> None:
    async with db.transaction() as s:
        conv = models.Conversation(kind="public", name="busy", name_key="busy", created_by=cast.alice.id)
        s.add(conv)
        await s.flush()
        conv_id = conv.id

    async def writer() -> None:
        for _ in range(10):
            async with db.transaction() as s:
                await append_event(s, kind="test.tick", actor_id=cast.bob.id, conversation_id=conv_id)

    await asyncio.gather(*(writer() for _ in range(6)))
    async with db.read() as s:
        seqs = (
            await s.scalars(
                select(models.Event.seq).where(models.Event.conversation_id == conv_id).order_by(models.Event.id)
            )
        ).all()
    assert list(seqs) == list(range(1, 61))

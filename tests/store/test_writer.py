"""The SQLite writer: turns from many callers, one transaction and one COMMIT per batch.

Each turn stays atomic (its own savepoint): one that fails is rolled back alone and
its caller gets its own error; the others are committed together and each gets its
own result. Events are published after the COMMIT, in commit order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import verify_log
from chat.channels.message_commands import PostMessage
from chat.channels.messages import Posted, post_message
from chat.errors import Conflict, NotFound
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.factories import Cast

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_eight_concurrent_posters_share_commits_and_each_gets_its_own_answer(db: Database, cast: Cast) -> None:
    assert db.writer is not None
    posters = [cast.alice, cast.maya, cast.bob, cast.carol]
    sales = await channel(db, cast.alice, "sales", members=posters[1:])
    secret = await channel(db, cast.alice, "secret", kind="private")
    taken = await post(db, cast.bob, sales, "first", nonce="taken")
    published: list[Any] = []

    async def record(events: Sequence[Any]) -> None:
        published.extend(events)

    db.after_commit = record

    def poster(i: int) -> Any:
        actor = posters[i % 4]
        if i == 3:  # carol posts into a group she cannot see
            target, cmd = secret, PostMessage(body="let me in", nonce="c-3", topic="t")
        elif i == 6:  # bob reuses a nonce for another text
            target, cmd = sales, PostMessage(body="not the first", nonce="taken", topic="general")
        else:
            target, cmd = sales, PostMessage(body=f"post {i} by {actor.username}", nonce=f"n-{i}", topic="t")

        async def job(session: AsyncSession) -> Posted:
            return await post_message(session, actor, target, cmd)

        return db.write(job)

    commits_before, published_before = db.writer.batches, len(published)
    results = await asyncio.gather(*(poster(i) for i in range(8)), return_exceptions=True)
    commits = db.writer.batches - commits_before

    assert isinstance(results[3], NotFound) and results[3].code == "conversation_not_found"
    assert isinstance(results[6], Conflict) and results[6].code == "nonce_reused"
    acked = [r for i, r in enumerate(results) if i not in (3, 6)]
    assert all(isinstance(r, Posted) and r.created for r in acked)
    for i, r in enumerate(results):
        if isinstance(r, Posted):
            assert r.message.body == f"post {i} by {posters[i % 4].username}"  # each caller its own
    assert 1 <= commits < len(acked)  # group commit: fewer COMMITs than posts
    # published after the commits, in commit order, once each
    events = published[published_before:]
    assert [e.data["message"]["id"] for e in events] == [r.message.id for r in acked]  # type: ignore[union-attr]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    async with db.read() as s:
        stored = (await s.scalars(select(models.Message.body).where(models.Message.conversation_id == sales))).all()
        assert sorted(stored) == sorted(["first", *(r.message.body for r in acked)])  # type: ignore[union-attr]
        assert await s.scalar(select(func.count()).where(models.Message.conversation_id == secret)) == 0
        seqs = (await s.scalars(select(models.Event.seq).where(models.Event.chain == f"c{sales}"))).all()
        assert sorted(seqs) == list(range(1, len(seqs) + 1))  # gap-free
        assert (await verify_log(s, sales)).ok
    assert taken.body == "first"


async def test_a_failing_body_is_rolled_back_alone(db: Database) -> None:
    assert db.writer is not None
    async with db.transaction() as s:
        await s.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))

    async def add(v: str, *, fail: bool = False) -> None:
        async with db.transaction() as s:
            await s.execute(text("INSERT INTO notes (v) VALUES (:v)"), {"v": v})
            await asyncio.sleep(0)  # the body runs in the caller's task and may yield
            if fail:
                raise RuntimeError(f"no {v}")

    before = db.writer.batches
    results = await asyncio.gather(add("a"), add("b", fail=True), add("c"), add("a"), add("d"), return_exceptions=True)
    assert results[0] is None and results[2] is None and results[4] is None
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "no b"
    assert "UNIQUE" in str(results[3])
    assert db.writer.batches - before == 1
    async with db.read() as s:
        assert (await s.scalars(text("SELECT v FROM notes ORDER BY v"))).all() == ["a", "c", "d"]


async def test_a_caller_cancelled_while_it_waits_takes_nothing_with_it(db: Database) -> None:
    async with db.transaction() as s:
        await s.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, v TEXT)"))

    async def add(v: str) -> None:
        async with db.transaction() as s:
            await s.execute(text("INSERT INTO notes (v) VALUES (:v)"), {"v": v})

    first = asyncio.create_task(add("kept 1"))
    gone = asyncio.create_task(add("never"))
    last = asyncio.create_task(add("kept 2"))
    await asyncio.sleep(0)  # all three queued
    gone.cancel()
    await asyncio.gather(first, last)
    assert gone.cancelled()
    await add("kept 3")  # the writer goes on
    async with db.read() as s:
        assert (await s.scalars(text("SELECT v FROM notes ORDER BY id"))).all() == ["kept 1", "kept 2", "kept 3"]


async def test_waiting_for_another_processs_write_lock_does_not_stall_the_server(db: Database) -> None:
    """BEGIN IMMEDIATE waits (busy_timeout) on a thread: the event loop keeps serving meanwhile."""
    import sqlite3
    import threading

    async with db.transaction() as s:
        await s.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, v TEXT)"))
    path = db.url.removeprefix("sqlite+aiosqlite:///")
    locked, release = threading.Event(), threading.Event()

    def other_process() -> None:  # another writer on the same file (the CLI, a second server)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO notes (v) VALUES ('theirs')")
        locked.set()
        release.wait(10)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=other_process)
    holder.start()
    await asyncio.to_thread(locked.wait, 10)
    ticks = 0

    async def add() -> None:
        async with db.transaction() as s:
            await s.execute(text("INSERT INTO notes (v) VALUES ('ours')"))

    write = asyncio.create_task(add())
    while ticks < 20:  # the loop runs while the write waits for the lock
        await asyncio.sleep(0.005)
        ticks += 1
        assert not write.done()
    release.set()
    await write
    await asyncio.to_thread(holder.join)
    async with db.read() as s:
        assert (await s.scalars(text("SELECT v FROM notes ORDER BY id"))).all() == ["theirs", "ours"]


async def test_a_write_inside_a_write_is_refused_rather_than_waiting_forever(db: Database) -> None:
    async with db.transaction() as s:
        await s.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, v TEXT)"))
        with pytest.raises(RuntimeError, match="inside another"):
            async with db.transaction():
                pass

    async def job(session: AsyncSession) -> None:
        await db.write(lambda inner: inner.execute(text("SELECT 1")))

    with pytest.raises(RuntimeError, match="inside another"):
        await db.write(job)
    async with db.transaction() as s:  # the writer goes on
        await s.execute(text("INSERT INTO notes (v) VALUES ('fine')"))

"""The retention purge: expired bodies erased, overrides and holds respected, the log still verifies.

No test sleeps: every purge is given its ``now``, a clock the test moves past the messages' times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import httpx2
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from chat.archive.audit import verify_log
from chat.archive.replay import replay_log
from chat.channels.legal_hold import SetLegalHold, SetRetention, set_conversation_retention, set_user_legal_hold
from chat.channels.message_commands import DeleteMessage, EditMessage
from chat.channels.message_views import MessageOut
from chat.channels.messages import delete_message, edit_message, react
from chat.channels.retention import RetentionScheduler, purge_expired
from chat.channels.search import parse_query, search_messages
from chat.cli import main
from chat.config import Settings
from chat.store import models, workspace
from chat.store.db import Database
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast, make_cast
from tests.web.authhelp import as_user

DAY = timedelta(days=1)
T = TypeVar("T")


async def set_global(db: Database, days: int) -> None:
    async with db.transaction() as s:
        await workspace.save(s, {"retention_days": days}, by=None)


async def set_conversation(
    db: Database, cast: Cast, conversation_id: int, days: int | None, hold: bool = False
) -> None:
    async with db.transaction() as s:
        await set_conversation_retention(
            s, cast.alice, conversation_id, SetRetention(days=days, legal_hold=hold), workspace_days=0
        )


async def row(db: Database, message_id: int) -> models.Message:
    async with db.read() as s:
        found = await s.get(models.Message, message_id)
        assert found is not None
        return found


async def bodies(db: Database, message_id: int) -> tuple[str, list[str], list[str | None], list[bool]]:
    """The message's body, its revisions' bodies, its events' bodies and their redacted flags."""
    async with db.read() as s:
        message = await s.get(models.Message, message_id)
        assert message is not None
        revisions = (
            await s.scalars(select(models.MessageRevision.body).where(models.MessageRevision.message_id == message_id))
        ).all()
        events = (
            await s.execute(
                select(models.Event.body, models.Event.redacted)
                .where(models.Event.message_id == message_id, models.Event.kind.like("message.%"))
                .order_by(models.Event.id)
            )
        ).all()
    return message.body, list(revisions), [e[0] for e in events], [e[1] for e in events]


def between(first: MessageOut, second: MessageOut, days: int) -> datetime:
    """A moment ``days`` after the midpoint of two posts: a purge then erases the first, not the second."""
    assert first.created_at < second.created_at
    return first.created_at + (second.created_at - first.created_at) / 2 + days * DAY


async def purged_events(db: Database) -> list[models.Event]:
    async with db.read() as s:
        return list(
            (
                await s.scalars(
                    select(models.Event).where(models.Event.kind == "retention.purged").order_by(models.Event.id)
                )
            ).all()
        )


async def test_only_expired_messages_lose_their_text(db: Database, cast: Cast, settings: Settings) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    old = await post(db, cast.bob, general, "the old plan", topic="plans")
    async with db.transaction() as s:
        await edit_message(s, cast.bob, old.id, EditMessage(body="the old plan, edited"))
        await react(s, cast.alice, old.id, "👍")
    new = await post(db, cast.bob, general, "the new plan", topic="plans")
    await set_global(db, 30)

    early = await purge_expired(db, settings, now=old.created_at + 29 * DAY)
    assert early.count == 0 and await purged_events(db) == []

    report = await purge_expired(db, settings, now=between(old, new, 30))
    assert [(p.conversation, p.count, p.days) for p in report.conversations] == [(general, 1, 30)]
    body, revisions, event_bodies, redacted = await bodies(db, old.id)
    assert (body, revisions, event_bodies, redacted) == ("", ["", ""], [None, None], [True, True])
    erased = await row(db, old.id)
    assert erased.html == "" and erased.redacted_at == between(old, new, 30)
    assert (await bodies(db, new.id))[0] == "the new plan"
    async with db.read() as s:  # reactions stay
        assert await s.scalar(select(func.count()).select_from(models.Reaction)) == 1

    (event,) = await purged_events(db)
    assert (event.chain, event.actor_id, event.payload["count"], event.payload["days"]) == (f"c{general}", None, 1, 30)
    assert event.payload["cutoff"] == (between(old, new, 30) - 30 * DAY).isoformat()

    again = await purge_expired(db, settings, now=between(old, new, 30))
    assert again.count == 0 and len(await purged_events(db)) == 1  # nothing more to erase, nothing logged


async def test_the_conversation_overrides_the_workspace(db: Database, cast: Cast, settings: Settings) -> None:
    short = await channel(db, cast.alice, "short")
    default = await channel(db, cast.alice, "default")
    forever = await channel(db, cast.alice, "forever")
    dm = await direct(db, cast.alice, cast.bob)
    await set_conversation(db, cast, short, 7)
    await set_conversation(db, cast, forever, 0)
    posts = {
        cid: await post(db, cast.alice, cid, f"in {cid}", topic="" if cid == dm else "t")
        for cid in (short, default, forever, dm)
    }
    start = max(p.created_at for p in posts.values())

    assert (await purge_expired(db, settings.replace(retention_days=30), now=start + 10 * DAY)).count == 1
    assert (await row(db, posts[short].id)).redacted_at is not None
    assert (await row(db, posts[default].id)).redacted_at is None

    report = await purge_expired(db, settings.replace(retention_days=30), now=start + 31 * DAY)
    assert sorted(p.conversation for p in report.conversations) == sorted([default, dm])
    assert (await row(db, posts[forever].id)).body == f"in {forever}"

    await set_global(db, 0)  # the stored workspace setting wins over CHAT_RETENTION_DAYS: kept forever now
    later = await post(db, cast.alice, default, "kept", topic="t")
    assert (await purge_expired(db, settings.replace(retention_days=30), now=later.created_at + 400 * DAY)).count == 0


async def test_legal_holds_suspend_the_purge(db: Database, cast: Cast, settings: Settings) -> None:
    held = await channel(db, cast.alice, "litigation", kind="private", members=[cast.bob, cast.carol])
    open_ = await channel(db, cast.alice, "open", members=[cast.bob, cast.carol])
    in_held = await post(db, cast.carol, held, "contract terms", topic="deal")
    by_bob = await post(db, cast.bob, open_, "bob's words", topic="chat")
    by_carol = await post(db, cast.carol, open_, "carol's words", topic="chat")
    await set_conversation(db, cast, held, None, hold=True)
    async with db.transaction() as s:
        await set_user_legal_hold(s, cast.alice, cast.bob.id, SetLegalHold(on=True))
    await set_global(db, 1)
    now = by_carol.created_at + 2 * DAY

    report = await purge_expired(db, settings, now=now)
    assert [(p.conversation, p.count) for p in report.conversations] == [(open_, 1)]
    assert (await row(db, in_held.id)).body == "contract terms"
    assert (await row(db, by_bob.id)).body == "bob's words"
    assert (await row(db, by_carol.id)).body == ""

    await set_conversation(db, cast, held, None, hold=False)  # holds lifted: the next run erases the rest
    async with db.transaction() as s:
        await set_user_legal_hold(s, cast.alice, cast.bob.id, SetLegalHold(on=False))
    report = await purge_expired(db, settings, now=now)
    assert sorted((p.conversation, p.count) for p in report.conversations) == [(held, 1), (open_, 1)]


async def test_the_chains_verify_and_the_replay_expects_the_erased_bodies(
    db: Database, cast: Cast, settings: Settings
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    first = await post(db, cast.bob, general, "alpha", topic="t")
    async with db.transaction() as s:
        await delete_message(s, cast.bob, first.id, DeleteMessage(reason="typo"))  # a tombstone is purged too
    second = await post(db, cast.bob, general, "beta", topic="t")
    await purge_expired(db, settings.replace(retention_days=1), now=second.created_at + 2 * DAY)
    assert (await bodies(db, first.id))[1] == [""]
    async with db.read() as s:
        audit = await verify_log(s)
        replay = await replay_log(s)
    assert audit.ok and audit.redacted == 2  # two message.posted bodies erased, digests kept
    assert replay.ok, replay.differences
    assert replay.bodies_skipped == 1  # the deleted message is compared as deleted


async def test_search_no_longer_finds_purged_text(db: Database, cast: Cast, settings: Settings) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    message = await post(db, cast.bob, general, "the zebra protocol", topic="animals")

    async def found() -> list[int]:
        async with db.read() as s:
            return [hit.id for hit in (await search_messages(s, cast.bob, parse_query("zebra"))).hits]

    assert await found() == [message.id]
    await purge_expired(db, settings.replace(retention_days=1), now=message.created_at + 2 * DAY)
    assert await found() == []


async def test_the_purge_works_in_batches_and_lets_posts_through(db: Database, cast: Cast, settings: Settings) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    posted = [await post(db, cast.bob, general, f"message {i}", topic="t") for i in range(5)]
    now = posted[-1].created_at + 2 * DAY
    report = await purge_expired(db, settings.replace(retention_days=1), now=now, batch_size=2)
    assert (report.count, report.batches) == (5, 3)
    (event,) = await purged_events(db)  # one event for the whole run in this conversation
    assert event.payload["count"] == 5

    many = [await post(db, cast.bob, general, f"later {i}", topic="t") for i in range(12)]
    purge = asyncio.create_task(
        purge_expired(db, settings.replace(retention_days=1), now=many[-1].created_at + DAY, batch_size=1)
    )
    await asyncio.sleep(0)  # the purge starts (no time passes: this only yields to it)
    during = await post(db, cast.bob, general, "posted during the purge", topic="t")
    assert not purge.done()  # the post did not wait for the whole purge, only for a batch
    assert (await purge).count == 11  # the cutoff is the last one's time: it and the new post stay
    assert (await row(db, during.id)).body == "posted during the purge"


async def test_the_scheduler_purges_at_its_clock_s_time(db: Database, cast: Cast, settings: Settings) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    message = await post(db, cast.bob, general, "soon gone", topic="t")
    clock = [message.created_at]
    slept = asyncio.Event()
    wake = asyncio.Event()
    intervals: list[float] = []

    async def sleep(seconds: float) -> None:
        intervals.append(seconds)
        slept.set()
        await wake.wait()
        wake.clear()

    scheduler = RetentionScheduler(
        db, settings.replace(retention_days=1), interval_s=60, clock=lambda: clock[-1], sleep=sleep
    )
    scheduler.start()
    await slept.wait()
    assert (scheduler.runs, (await row(db, message.id)).body) == (1, "soon gone")  # not expired yet
    slept.clear()
    clock.append(message.created_at + 2 * DAY)  # the clock moves; the next run comes when the sleep ends
    wake.set()
    await slept.wait()
    await scheduler.close()
    assert scheduler.runs == 2 and intervals == [60, 60]
    assert (await row(db, message.id)).body == ""


async def test_redacted_messages_show_as_redacted(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast, settings: Settings
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    message = await post(db, cast.bob, general, "ephemeral", topic="t")
    await purge_expired(db, settings.replace(retention_days=1), now=message.created_at + 2 * DAY)
    headers = await as_user(client, app, cast.bob)
    shown = (await client.get(f"/api/v1/messages/{message.id}", headers=headers)).json()
    assert (shown["body"], shown["html"], shown["deleted"]) == ("", "", None)
    assert shown["redacted_at"] is not None
    history = (await client.get(f"/api/v1/messages/{message.id}/history", headers=headers)).json()
    assert history["revisions"] == []
    edit = await client.patch(f"/api/v1/messages/{message.id}", json={"body": "again"}, headers=headers)
    assert (edit.status_code, edit.json()["error"]["code"]) == (409, "message_redacted")
    assert (await row(db, message.id)).body == ""
    events = (await client.get("/api/v1/events", params={"after": 0}, headers=headers)).json()["events"]
    posted = next(e for e in events if e["kind"] == "message.posted" and e["data"]["message"]["id"] == message.id)
    assert posted["data"]["redacted"] is True and "body" not in posted["data"]


def test_cli_purge_then_audit_verify_passes(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def on_db(work: Callable[[Database], Awaitable[int]]) -> int:
        database = Database(database_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    async def build(database: Database) -> int:
        cast = await make_cast(database)
        general = await channel(database, cast.alice, "general", members=[cast.bob])
        message = await post(database, cast.bob, general, "from last year", topic="t")
        await post(database, cast.bob, general, "from today", topic="t")
        async with database.transaction() as s:  # this row was written 40 days ago (the CLI's clock is real)
            await s.execute(
                update(models.Message)
                .where(models.Message.id == message.id)
                .values(created_at=message.created_at - 40 * DAY)
            )
        await set_global(database, 30)
        return message.id

    message_id = asyncio.run(on_db(build))
    monkeypatch.setenv("CHAT_DATABASE_URL", database_url)
    runner = CliRunner()
    purged = runner.invoke(main, ["retention", "purge"])
    assert purged.exit_code == 0, purged.output
    assert "OK: 1 message(s) erased in 1 conversation(s)" in purged.output

    async def body(database: Database) -> int:
        async with database.read() as s:
            return len((await s.get(models.Message, message_id)).body)  # type: ignore[union-attr]

    assert asyncio.run(on_db(body)) == 0
    verified = runner.invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "1 with an erased body (redacted)" in verified.output


class HoldAfterFirstBatch:
    """The real database, with an admin placing a legal hold right after the purge's first batch commits."""

    def __init__(self, db: Database, cast: Cast, conversation_id: int) -> None:
        self.db, self.cast, self.conversation_id = db, cast, conversation_id
        self.read = db.read
        self.writes = 0

    async def write(self, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
        result = await self.db.write(job)
        self.writes += 1
        if self.writes == 1:
            await set_conversation(self.db, self.cast, self.conversation_id, None, hold=True)
        return result


async def test_a_hold_placed_during_a_run_stops_it(db: Database, cast: Cast, settings: Settings) -> None:
    general = await channel(db, cast.alice, "general")
    posted = [await post(db, cast.alice, general, f"m{i}", topic="t") for i in range(3)]
    racing = HoldAfterFirstBatch(db, cast, general)
    report = await purge_expired(
        racing,  # type: ignore[arg-type]
        settings.replace(retention_days=1),
        now=posted[-1].created_at + 2 * DAY,
        batch_size=1,
    )
    assert report.count == 1 and racing.writes == 2  # the second batch saw the hold and erased nothing
    assert [(await row(db, p.id)).body for p in posted] == ["", "m1", "m2"]
    (event,) = await purged_events(db)
    assert event.payload["count"] == 1

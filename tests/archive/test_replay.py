"""Replaying the log rebuilds the tables people read; a row changed behind the log's back is named."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import redact_event_body
from chat.archive.replay import ReplayReport, replay_log
from chat.channels.conversations import join_conversation, leave_conversation
from chat.channels.message_commands import DeleteMessage, EditMessage, UpdateTopic
from chat.channels.messages import delete_message, edit_message, react, unreact
from chat.channels.topics import update_topic
from chat.cli import main
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast, make_cast


@dataclass(frozen=True)
class History:
    general: int
    ops: int
    edited: int  # bob's first message, edited twice
    last_edit_event: int
    moved: int  # moved from general to the private group ops, then edited and reacted to there
    thumbs_event: int  # bob's 👍 on ``edited``
    carol_joined_event: int  # carol's second join of general


async def build_history(db: Database, cast: Cast) -> History:
    """Posts, edits, a delete, reactions added and removed, joins and leaves, a rename, a resolve,
    a move into a private group, a direct conversation, and one erased body."""
    bob, carol, maya = cast.bob, cast.carol, cast.maya
    general = await channel(db, cast.alice, "general", members=[bob, carol, maya])
    ops = await channel(db, maya, "ops", kind="private", members=[bob])
    first = await post(db, bob, general, "first draft", topic="q3")
    second = await post(db, bob, general, "second", topic="q3")
    gone = await post(db, carol, general, "oops", topic="q3")
    erased = await post(db, carol, general, "private detail", topic="other")
    async with db.transaction() as s:
        await edit_message(s, bob, first.id, EditMessage(body="second draft"))
    async with db.transaction() as s:
        await edit_message(s, bob, first.id, EditMessage(body="final draft"))
    async with db.transaction() as s:
        await delete_message(s, carol, gone.id, DeleteMessage(reason="typo"))
    async with db.transaction() as s:
        await react(s, bob, first.id, "👍")
    async with db.transaction() as s:
        await react(s, carol, first.id, "🎉")
    async with db.transaction() as s:
        await unreact(s, carol, first.id, "🎉")
    async with db.transaction() as s:
        await react(s, carol, second.id, "👀")
    async with db.transaction() as s:
        await leave_conversation(s, carol, general)
    async with db.transaction() as s:
        await join_conversation(s, carol, general)
    async with db.transaction() as s:
        await update_topic(s, bob, general, UpdateTopic(topic="q3", new_name="Q3 tender"))
    async with db.transaction() as s:
        await update_topic(s, bob, general, UpdateTopic(topic="Q3 tender", resolved=True))
    async with db.transaction() as s:
        await update_topic(
            s,
            maya,
            general,
            UpdateTopic(topic="✔ Q3 tender", move_to_conversation=ops, scope="one", message_id=second.id),
        )
    async with db.transaction() as s:
        await edit_message(s, bob, second.id, EditMessage(body="second, in ops"))
    async with db.transaction() as s:
        await react(s, maya, second.id, "✅")
    dm = await direct(db, bob, carol)
    await post(db, bob, dm, "psst", topic="")
    async with db.read() as s:
        events = list((await s.scalars(select(models.Event).order_by(models.Event.id))).all())
    async with db.transaction() as s:
        await redact_event_body(s, next(e.id for e in events if e.message_id == erased.id))

    def last(kind: str, **where: object) -> int:
        return max(e.id for e in events if e.kind == kind and all(getattr(e, k) == v for k, v in where.items()))

    return History(
        general=general,
        ops=ops,
        edited=first.id,
        last_edit_event=last("message.edited", message_id=first.id),
        moved=second.id,
        thumbs_event=last("reaction.added", message_id=first.id, actor_id=bob.id),
        carol_joined_event=last("member.joined", subject_id=carol.id, conversation_id=general),
    )


async def replay(db: Database, conversation_id: int | None = None) -> ReplayReport:
    async with db.read() as s:
        return await replay_log(s, conversation_id)


async def tamper(db: Database, change: Callable[[AsyncSession], Awaitable[object]]) -> None:
    async with db.transaction() as s:
        await change(s)


def problems(report: ReplayReport) -> dict[str, str]:
    return {d.table: d.problem for d in report.differences}


async def test_a_normal_history_replays_to_the_tables(db: Database, cast: Cast) -> None:
    h = await build_history(db, cast)
    report = await replay(db)
    assert report.ok, report.differences
    assert report.conversations == 3 and report.bodies_skipped == 1  # the erased body is not compared
    async with db.read() as s:
        moved = await s.get(models.Message, h.moved)
    assert moved is not None and moved.conversation_id == h.ops  # the move was followed, not skipped
    assert (await replay(db, h.ops)).ok and (await replay(db, h.general)).ok


async def test_a_forged_body_is_named(db: Database, cast: Cast) -> None:
    h = await build_history(db, cast)
    await tamper(
        db, lambda s: s.execute(update(models.Message).where(models.Message.id == h.edited).values(body="forged"))
    )
    assert problems(await replay(db)) == {
        "messages": f"messages.body of message {h.edited} differs from the log (event {h.last_edit_event})"
    }


async def test_a_message_moved_back_behind_the_logs_back_is_named(db: Database, cast: Cast) -> None:
    h = await build_history(db, cast)
    await tamper(
        db,
        lambda s: s.execute(
            update(models.Message).where(models.Message.id == h.moved).values(conversation_id=h.general)
        ),
    )
    found = problems(await replay(db))
    assert found["messages"].startswith(f"messages.conversation_id of message {h.moved} differs from the log")
    assert not (await replay(db, h.general)).ok  # seen from either conversation
    assert not (await replay(db, h.ops)).ok


async def test_a_deleted_reaction_row_is_named(db: Database, cast: Cast) -> None:
    h = await build_history(db, cast)
    await tamper(
        db,
        lambda s: s.execute(
            delete(models.Reaction).where(models.Reaction.message_id == h.edited, models.Reaction.emoji == "👍")
        ),
    )
    assert problems(await replay(db)) == {
        "reactions": f"reaction 👍 by user {cast.bob.id} on message {h.edited} is in the log "
        f"(event {h.thumbs_event}) but not in reactions"
    }


async def test_a_removed_membership_row_is_named(db: Database, cast: Cast) -> None:
    h = await build_history(db, cast)
    await tamper(
        db,
        lambda s: s.execute(
            delete(models.Membership).where(
                models.Membership.conversation_id == h.general, models.Membership.user_id == cast.carol.id
            )
        ),
    )
    assert problems(await replay(db)) == {
        "memberships": f"membership of user {cast.carol.id} in conversation {h.general} is in the log "
        f"(event {h.carol_joined_event}) but not in memberships"
    }
    assert (await replay(db, h.ops)).ok  # the comparison narrowed to another conversation


async def test_a_revision_row_deleted_and_a_message_undeleted_are_named(db: Database, cast: Cast) -> None:
    h = await build_history(db, cast)
    await tamper(
        db,
        lambda s: s.execute(
            delete(models.MessageRevision).where(
                models.MessageRevision.id
                == select(models.MessageRevision.id)
                .where(models.MessageRevision.message_id == h.edited)
                .order_by(models.MessageRevision.id.desc())
                .limit(1)
                .scalar_subquery()
            )
        ),
    )
    assert problems(await replay(db)) == {
        "revisions": f"message {h.edited} has 4 revision(s) where the log implies 5"  # post, 2 edits, rename, resolve
    }


def test_cli_verify_fails_on_a_forged_table(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def on_db(work: Callable[[Database], Awaitable[History | None]]) -> History | None:
        db = Database(database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    async def build(db: Database) -> History:
        return await build_history(db, await make_cast(db))

    h = asyncio.run(on_db(build))
    assert h is not None
    monkeypatch.setenv("CHAT_DATABASE_URL", database_url)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "the tables match the log (3 conversation(s) replayed, 1 erased body(ies) not compared)" in ok.output

    async def forge(db: Database) -> None:
        async with db.transaction() as s:
            await s.execute(update(models.Message).where(models.Message.id == h.edited).values(body="forged"))

    asyncio.run(on_db(forge))
    bad = runner.invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1
    assert (
        f"FAILED: table messages does not match the log: messages.body of message {h.edited} differs from the log"
        in bad.output
    )
    assert "FAILED: chain" not in bad.output  # the log itself is intact


async def test_a_forged_revision_body_is_named(db: Database, cast: Cast) -> None:
    """History shows every revision's text: rewriting one behind the log's back is found, whichever it is."""
    h = await build_history(db, cast)
    async with db.read() as s:
        revisions = (
            await s.scalars(
                select(models.MessageRevision.id)
                .where(models.MessageRevision.message_id == h.edited)
                .order_by(models.MessageRevision.id)
            )
        ).all()
    assert len(revisions) >= 3  # the post, two edits, then the topic's rename and resolve
    for number, revision_id in enumerate(revisions, start=1):
        async with db.transaction() as s:
            original = await s.scalar(
                select(models.MessageRevision.body).where(models.MessageRevision.id == revision_id)
            )
            await s.execute(
                update(models.MessageRevision).where(models.MessageRevision.id == revision_id).values(body="forged")
            )
        report = await replay(db)
        assert set(problems(report)) == {"revisions"}, number
        assert problems(report)["revisions"].startswith(
            f"message_revisions.body of revision {number} of message {h.edited} differs from the log"
        )
        async with db.transaction() as s:
            await s.execute(
                update(models.MessageRevision).where(models.MessageRevision.id == revision_id).values(body=original)
            )
    assert (await replay(db)).ok

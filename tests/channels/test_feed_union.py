"""The events feed, read as a union of index range scans, serves exactly what the plain rule says.

``chat.channels.feed.events_since`` reads one id range per source of visibility
(each conversation of the reader, the reader's own events, everyone's, staff's)
and merges them. Here its pages are compared, for every reader of a mixed cast,
with the rule applied to every row of the log in Python: the events of the
reader's conversations (hiding those of messages moved where the reader cannot
follow), the events about the reader, the events for everyone (not guests) and
for staff, all judged by the reader's role and memberships *now*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from chat.accounts.commands import CreateInvitation, UpdateUser
from chat.accounts.invitations import create_invitation
from chat.accounts.users import update_user
from chat.channels import feed
from chat.channels.conversations import remove_member
from chat.channels.feed import events_since
from chat.channels.message_commands import DeleteMessage, UpdateTopic
from chat.channels.messages import delete_message
from chat.channels.topics import update_topic
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, count_queries, post
from tests.factories import Cast


@dataclass(frozen=True)
class Log:
    """Everything the rule needs, read straight from the tables."""

    events: list[models.Event]
    home: dict[int, int]  # message id -> its conversation now
    deleted: set[int]  # deleted message ids
    memberships: dict[int, set[int]]  # user id -> conversation ids
    roles: dict[int, str]


async def read_log(db: Database) -> Log:
    async with db.read() as s:
        events = list((await s.scalars(select(models.Event).order_by(models.Event.id))).all())
        messages = (
            await s.execute(select(models.Message.id, models.Message.conversation_id, models.Message.deleted_at))
        ).all()
        members = (await s.execute(select(models.Membership.user_id, models.Membership.conversation_id))).all()
        roles = {uid: role for uid, role in (await s.execute(select(models.User.id, models.User.role))).all()}
    memberships: dict[int, set[int]] = {}
    for user_id, conversation_id in members:
        memberships.setdefault(user_id, set()).add(conversation_id)
    return Log(
        events,
        {mid: cid for mid, cid, _ in messages},
        {mid for mid, _, deleted_at in messages if deleted_at is not None},
        memberships,
        roles,
    )


def rule(log: Log, reader: int, after: int) -> list[int]:
    """The ids ``reader`` may see after ``after``, by the rule, one row at a time."""
    mine = log.memberships.get(reader, set())
    role = log.roles[reader]
    seen = []
    for e in log.events:
        in_conversation = (
            e.audience == "members"
            and e.conversation_id in mine
            and (e.message_id is None or log.home.get(e.message_id) in mine)
        )
        if e.id > after and (
            in_conversation
            or e.subject_id == reader
            or (e.audience == "everyone" and role != "guest")
            or (e.audience == "staff" and role in ("admin", "moderator"))
            or (e.audience == "admins" and role == "admin")
        ):
            seen.append(e.id)
    return seen


async def mixed_log(db: Database, cast: Cast) -> None:
    """A public channel with a guest, a private group bob was removed from, topics moved both ways,
    a deleted message, a staff-only event, a moderator demoted since."""
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.gus, cast.maya])
    board = await channel(db, cast.alice, "board", kind="private", members=[cast.bob, cast.carol, cast.maya])
    for i in range(4):
        await post(db, cast.alice, board, f"plan {i}", topic="plans")
        await post(db, cast.bob, sales, f"lead {i}", topic="leads")
    doomed = await post(db, cast.bob, sales, "wrong figures", topic="leads")
    await post(db, cast.alice, sales, "pricing for the board", topic="pricing")
    async with db.transaction() as s:
        await remove_member(s, cast.alice, board, cast.bob.id)
    async with db.transaction() as s:  # into the private group: sales members lose its old events
        await update_topic(s, cast.alice, sales, UpdateTopic(topic="pricing", move_to_conversation=board))
    async with db.transaction() as s:  # out of it: the group's events of those messages stay hidden from sales
        await update_topic(s, cast.alice, board, UpdateTopic(topic="plans", move_to_conversation=sales))
    async with db.transaction() as s:
        await delete_message(s, cast.bob, doomed.id, DeleteMessage(reason="typo"))
    async with db.transaction() as s:
        await create_invitation(s, cast.alice, CreateInvitation(role="member"), mode="invite")  # staff only
    async with db.transaction() as s:  # admins only
        await append_event(s, kind="workspace.settings_changed", actor_id=cast.alice.id, audience="admins", data={})
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.maya.id, UpdateUser(role="member"))
    await post(db, cast.carol, board, "after it all", topic="plans")


async def walk(db: Database, reader: Actor, after: int, limit: int) -> tuple[list[int], int]:
    """Every id served from ``after`` on, page by page, and the final cursor."""
    seen: list[int] = []
    while True:
        async with db.read() as s:
            page = await events_since(s, reader, after, limit)
        assert [e.id for e in page.events] == sorted(e.id for e in page.events)
        seen += [e.id for e in page.events]
        after = page.last_event_id
        if not page.has_more:
            return seen, after


def readers(cast: Cast) -> dict[str, Actor]:
    return {
        "admin in both": cast.alice,
        "moderator demoted since": cast.maya,  # her Actor still says moderator: the feed reads the role now
        "member removed from the group": cast.bob,
        "group member only": cast.carol,
        "guest": cast.gus,
        "outsider": cast.robot,
    }


@pytest.mark.parametrize("branches", [feed.MAX_CONVERSATION_BRANCHES, 1])
async def test_every_reader_gets_what_the_rule_gives(
    db: Database, cast: Cast, branches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # branches=1: a reader's second conversation goes through the shared IN branch
    monkeypatch.setattr(feed, "MAX_CONVERSATION_BRANCHES", branches)
    await mixed_log(db, cast)
    log = await read_log(db)
    horizon = log.events[-1].id
    kinds_seen: set[str] = set()
    for name, reader in readers(cast).items():
        for after in (0, horizon // 3, horizon - 2, horizon, horizon + 50):
            expected = rule(log, reader.id, min(after, horizon))
            for limit in (1, 3, 1000):
                seen, cursor = await walk(db, reader, after, limit)
                assert seen == expected, (name, after, limit)
                assert cursor == horizon, (name, after, limit)
        kinds_seen |= {e.kind for e in log.events if e.id in set(rule(log, reader.id, 0))}
    # the fixture is mixed enough to mean something: each source of visibility contributed
    assert {"message.posted", "member.removed", "topic.moved", "message.deleted"} <= kinds_seen
    by_reader = {name: rule(log, r.id, 0) for name, r in readers(cast).items()}
    assert len({tuple(ids) for ids in by_reader.values()}) == len(by_reader)  # six different views
    staff_only = [e.id for e in log.events if e.audience == "staff"]
    assert staff_only and set(staff_only) <= set(by_reader["admin in both"])
    assert not set(staff_only) & set(by_reader["moderator demoted since"])
    admins_only = [e.id for e in log.events if e.audience == "admins"]
    assert admins_only and set(admins_only) <= set(by_reader["admin in both"])


async def test_moderators_get_staff_events_but_not_admin_events(db: Database, cast: Cast) -> None:
    async with db.transaction() as s:
        staff = await append_event(s, kind="report.filed", actor_id=cast.bob.id, audience="staff", data={})
        admins = await append_event(s, kind="archive.exported", actor_id=cast.alice.id, audience="admins", data={})
    seen = {}
    for reader in (cast.alice, cast.maya, cast.bob):
        got, _ = await walk(db, reader, 0, 100)
        seen[reader.username] = {staff.id, admins.id} & set(got)
    assert seen == {"alice": {staff.id, admins.id}, "maya": {staff.id}, "bob": set()}


async def test_a_page_is_the_rule_cut_at_the_limit_with_deleted_text_withheld(db: Database, cast: Cast) -> None:
    await mixed_log(db, cast)
    log = await read_log(db)
    horizon = log.events[-1].id
    for reader in readers(cast).values():
        expected = rule(log, reader.id, 0)
        for limit in (2, len(expected), len(expected) + 1):
            async with db.read() as s:
                page = await events_since(s, reader, 0, limit)
            assert [e.id for e in page.events] == expected[:limit]
            assert page.has_more == (len(expected) > limit)
            assert page.last_event_id == (expected[limit - 1] if page.has_more else horizon)
            about_deleted = {e.id for e in log.events if e.message_id in log.deleted and e.body is not None}
            for e in page.events:
                assert ("body" not in e.data and e.data.get("withheld") is True) == (e.id in about_deleted), e.kind


async def statements_of_a_page(db: Database, reader: Actor, after: int) -> Sequence[str]:
    with count_queries(db) as statements:
        async with db.read() as s:
            await events_since(s, reader, after, 100)
    return statements


async def test_a_feed_page_is_two_statements_whatever_the_reader_follows(db: Database, cast: Cast) -> None:
    few = await statements_of_a_page(db, cast.bob, 0)
    for i in range(12):
        conversation = await channel(db, cast.alice, f"room {i}", members=[cast.bob])
        await post(db, cast.alice, conversation, f"hello {i}")
    async with db.read() as s:
        before_last = int(await s.scalar(select(func.max(models.Event.id))) or 0) - 1
    many = await statements_of_a_page(db, cast.bob, 0)
    # the reader's role, conversations and the horizon; then the page
    assert len(few) == len(many) == 2, many
    assert len(await statements_of_a_page(db, cast.bob, before_last)) == 2
    # at the horizon there is nothing to read after the first statement
    assert len(await statements_of_a_page(db, cast.bob, before_last + 1)) == 1
    assert len(await statements_of_a_page(db, cast.bob, 10**9)) == 1

"""Conversation actions through their public doors, with the cast, on SQLite and PostgreSQL.

Each change must write exactly one event, in the same transaction, naming the
members right after the change; a refused action must write nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from chat.channels.commands import AddMember, CreateConversation, OpenDirect, SetStar, UpdateConversation
from chat.channels.conversations import (
    add_member,
    create_conversation,
    leave_conversation,
    remove_member,
    set_star,
    update_conversation,
)
from chat.channels.direct import get_or_create_direct
from chat.channels.policy import access_conversation
from chat.channels.queries import ConversationInfo, get_conversation, list_conversations, list_members, list_public
from chat.domain.actors import Actor
from chat.domain.events import Event
from chat.errors import ChatError, Conflict, Forbidden, Invalid, NotFound
from chat.store import models
from chat.store.db import Database
from tests.factories import Cast


@pytest.fixture
def published(db: Database) -> list[Event]:
    """Every event handed to the hub after a commit."""
    seen: list[Event] = []

    async def record(events: Sequence[Any]) -> None:
        seen.extend(events)

    db.after_commit = record
    return seen


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.read() as s:
        conversations = await s.scalar(select(func.count()).select_from(models.Conversation))
        memberships = await s.scalar(select(func.count()).select_from(models.Membership))
        events = await s.scalar(select(func.count()).select_from(models.Event))
    return int(conversations or 0), int(memberships or 0), int(events or 0)


async def create(db: Database, actor: Actor, name: str, kind: str = "public", **kw: Any) -> ConversationInfo:
    async with db.transaction() as s:
        return await create_conversation(s, actor, CreateConversation(kind=kind, name=name, **kw))  # type: ignore[arg-type]


async def add(db: Database, actor: Actor, cid: int, user: Actor, **kw: Any) -> Any:
    async with db.transaction() as s:
        return await add_member(s, actor, cid, AddMember(user_id=user.id), **kw)


async def refused(db: Database, exc: type[ChatError], code: str, action: Any) -> ChatError:
    """Run ``action(session)`` in a transaction; it must raise ``exc`` with ``code`` and change nothing."""
    before = await counts(db)
    with pytest.raises(exc) as info:
        async with db.transaction() as s:
            await action(s)
    assert info.value.code == code
    assert await counts(db) == before
    return info.value


# --- creating ------------------------------------------------------------------------


async def test_create_public_channel_writes_one_event_with_the_creator_as_member(
    db: Database, cast: Cast, published: list[Event]
) -> None:
    info = await create(db, cast.bob, "  Sales   team ", description="Deals")
    assert (info.kind, info.name, info.description, info.member_count, info.joined) == (
        "public",
        "Sales team",
        "Deals",
        1,
        True,
    )
    assert info.created_by == cast.bob.id and info.others is None and not info.archived
    assert [(e.kind, e.conversation, e.members, e.audience) for e in published] == [
        ("conversation.created", info.id, (cast.bob.id,), "everyone")
    ]
    assert published[0].data["conversation"]["name"] == "Sales team"
    assert published[0].seq == 1


async def test_create_private_group_goes_to_members_only(db: Database, cast: Cast, published: list[Event]) -> None:
    info = await create(db, cast.carol, "Board", kind="private")
    assert [(e.kind, e.audience, e.members) for e in published] == [
        ("conversation.created", "members", (cast.carol.id,))
    ]
    assert info.kind == "private"


async def test_names_are_unique_case_insensitively_across_public_and_private(db: Database, cast: Cast) -> None:
    await create(db, cast.bob, "Sales")
    for kind, name in (("public", "sales"), ("private", " SALES "), ("public", "Sales")):
        await refused(
            db,
            Conflict,
            "name_taken",
            lambda s, k=kind, n=name: create_conversation(s, cast.carol, CreateConversation(kind=k, name=n)),
        )


async def test_guests_cannot_create(db: Database, cast: Cast) -> None:
    await refused(
        db, Forbidden, "not_allowed", lambda s: create_conversation(s, cast.gus, CreateConversation("public", "x"))
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": "x" * 61}, "too_long"),
        ({"name": "   "}, "empty"),
        ({"name": "ok", "description": "d" * 1001}, "too_long"),
        ({"name": "bell\x07"}, "bad_format"),
    ],
)
def test_command_limits(kwargs: dict[str, str], code: str) -> None:
    with pytest.raises(Invalid) as info:
        CreateConversation(kind="public", **kwargs)
    assert info.value.code == code
    assert CreateConversation(kind="public", name="x" * 60).name == "x" * 60
    assert CreateConversation(kind="public", name=" two\n\tlines ").name == "two lines"


# --- seeing --------------------------------------------------------------------------


async def test_invisible_conversations_are_exactly_like_missing_ones(db: Database, cast: Cast) -> None:
    group = await create(db, cast.bob, "Secret", kind="private")
    channel = await create(db, cast.bob, "Open")
    direct = await _direct(db, cast.bob, [cast.carol])
    async with db.read() as s:
        with pytest.raises(NotFound) as missing:
            await get_conversation(s, cast.alice, 999_999)
        # an admin does not see a private group they are not in; nor someone else's DM; nor a guest a channel
        for actor, cid in ((cast.alice, group.id), (cast.maya, direct.id), (cast.gus, channel.id)):
            with pytest.raises(NotFound) as hidden:
                await get_conversation(s, actor, cid)
            assert hidden.value.to_dict() == missing.value.to_dict()
            assert hidden.value.status == missing.value.status == 404
        assert (await get_conversation(s, cast.maya, channel.id)).joined is False  # preview


# --- joining, inviting, leaving, removing ------------------------------------------------


async def test_join_and_leave_public_channel(db: Database, cast: Cast, published: list[Event]) -> None:
    channel = await create(db, cast.bob, "General")
    change = await add(db, cast.carol, channel.id, cast.carol)
    assert (change.member, change.changed, change.member_count) == (True, True, 2)
    again = await add(db, cast.carol, channel.id, cast.carol)
    assert (again.changed, again.member_count) == (False, 2)
    async with db.transaction() as s:
        left = await leave_conversation(s, cast.carol, channel.id)
    assert (left.member, left.changed, left.member_count) == (False, True, 1)
    assert [(e.kind, e.actor, e.data, e.members, e.subject_id) for e in published[1:]] == [
        (
            "member.joined",
            cast.carol.id,
            {"user": cast.carol.id},
            tuple(sorted((cast.bob.id, cast.carol.id))),
            cast.carol.id,
        ),
        ("member.left", cast.carol.id, {"user": cast.carol.id}, (cast.bob.id,), cast.carol.id),
    ]
    assert [e.seq for e in published] == [1, 2, 3]


async def test_guest_cannot_join_a_public_channel(db: Database, cast: Cast) -> None:
    channel = await create(db, cast.bob, "General")
    await refused(
        db, NotFound, "conversation_not_found", lambda s: add_member(s, cast.gus, channel.id, AddMember(cast.gus.id))
    )


async def test_invite_to_private_group_follows_invite_policy(db: Database, cast: Cast, published: list[Event]) -> None:
    group = await create(db, cast.bob, "Board", kind="private")
    await refused(
        db,
        Forbidden,
        "not_allowed",
        lambda s: add_member(s, cast.bob, group.id, AddMember(cast.carol.id), invite_policy="admins"),
    )
    await add(db, cast.bob, group.id, cast.alice)  # members may invite by default
    await add(db, cast.alice, group.id, cast.gus, invite_policy="admins")  # an admin member may always
    assert [(e.kind, e.actor, e.data, e.members) for e in published[1:]] == [
        ("member.invited", cast.bob.id, {"user": cast.alice.id}, tuple(sorted((cast.bob.id, cast.alice.id)))),
        (
            "member.invited",
            cast.alice.id,
            {"user": cast.gus.id},
            tuple(sorted((cast.bob.id, cast.alice.id, cast.gus.id))),
        ),
    ]
    # a guest member sees the group but may not invite
    await refused(db, Forbidden, "not_allowed", lambda s: add_member(s, cast.gus, group.id, AddMember(cast.carol.id)))
    # an outsider cannot even see it
    await refused(
        db,
        NotFound,
        "conversation_not_found",
        lambda s: add_member(s, cast.carol, group.id, AddMember(cast.carol.id)),
    )


async def test_invite_to_public_channel_and_unknown_or_inactive_users(db: Database, cast: Cast) -> None:
    channel = await create(db, cast.bob, "General")
    change = await add(db, cast.carol, channel.id, cast.maya)  # a non-member adds someone, like Zulip
    assert change.changed and change.member_count == 2
    await refused(db, NotFound, "user_not_found", lambda s: add_member(s, cast.bob, channel.id, AddMember(424242)))
    async with db.transaction() as s:
        user = await s.get(models.User, cast.carol.id)
        assert user is not None
        user.active = False
    await refused(
        db, NotFound, "user_not_found", lambda s: add_member(s, cast.bob, channel.id, AddMember(cast.carol.id))
    )


async def test_remove_members(db: Database, cast: Cast, published: list[Event]) -> None:
    channel = await create(db, cast.bob, "General")
    await add(db, cast.carol, channel.id, cast.carol)
    await refused(db, Forbidden, "not_allowed", lambda s: remove_member(s, cast.bob, channel.id, cast.carol.id))
    async with db.transaction() as s:
        removed = await remove_member(s, cast.maya, channel.id, cast.carol.id)
    assert (removed.member, removed.member_count) == (False, 1)
    assert (published[-1].kind, published[-1].actor, published[-1].members, published[-1].subject_id) == (
        "member.removed",
        cast.maya.id,
        (cast.bob.id,),
        cast.carol.id,
    )
    await refused(db, NotFound, "member_not_found", lambda s: remove_member(s, cast.maya, channel.id, cast.carol.id))
    # private group: only an admin who is a member removes others
    group = await create(db, cast.bob, "Board", kind="private")
    await add(db, cast.bob, group.id, cast.carol)
    await refused(
        db, NotFound, "conversation_not_found", lambda s: remove_member(s, cast.alice, group.id, cast.carol.id)
    )
    await add(db, cast.bob, group.id, cast.maya)
    await refused(db, Forbidden, "not_allowed", lambda s: remove_member(s, cast.maya, group.id, cast.carol.id))
    await add(db, cast.bob, group.id, cast.alice)
    async with db.transaction() as s:
        await remove_member(s, cast.alice, group.id, cast.carol.id)
    # after leaving, a private group is invisible again
    async with db.transaction() as s:
        await leave_conversation(s, cast.maya, group.id)
    async with db.read() as s:
        with pytest.raises(NotFound):
            await access_conversation(s, cast.maya, group.id)


# --- direct conversations ------------------------------------------------------------


async def _direct(db: Database, actor: Actor, others: list[Actor]) -> ConversationInfo:
    async with db.transaction() as s:
        return (await get_or_create_direct(s, actor, OpenDirect(user_ids=[o.id for o in others]))).conversation


async def test_direct_conversation_is_created_once(db: Database, cast: Cast, published: list[Event]) -> None:
    async with db.transaction() as s:
        first = await get_or_create_direct(s, cast.bob, OpenDirect(user_ids=[cast.carol.id]))
    async with db.transaction() as s:
        again = await get_or_create_direct(s, cast.carol, OpenDirect(user_ids=[cast.bob.id, cast.carol.id]))
    assert first.created and not again.created
    assert first.conversation.id == again.conversation.id
    assert first.conversation.kind == "direct" and first.conversation.name is None
    assert [u.username for u in first.conversation.others or []] == ["carol"]
    assert [u.username for u in again.conversation.others or []] == ["bob"]
    pair = tuple(sorted((cast.bob.id, cast.carol.id)))
    assert [(e.kind, e.members, e.audience) for e in published] == [("conversation.created", pair, "members")]
    assert published[0].data["members"] == list(pair)


async def test_group_direct_conversation_and_self_conversation(db: Database, cast: Cast) -> None:
    group = await _direct(db, cast.bob, [cast.carol, cast.maya, cast.robot, cast.carol])
    assert group.member_count == 4
    assert sorted(u.id for u in group.others or []) == sorted((cast.carol.id, cast.maya.id, cast.robot.id))
    alone = await _direct(db, cast.bob, [])
    assert alone.member_count == 1 and alone.others == []
    assert (await _direct(db, cast.bob, [cast.bob])).id == alone.id


async def test_direct_refusals(db: Database, cast: Cast) -> None:
    await refused(
        db,
        Invalid,
        "too_many_members",
        lambda s: get_or_create_direct(s, cast.bob, OpenDirect(user_ids=list(range(1000, 1008)))),
    )
    with pytest.raises(Invalid) as too_many:
        OpenDirect(user_ids=list(range(1000, 1009)))
    assert too_many.value.code == "too_many"
    await refused(db, NotFound, "user_not_found", lambda s: get_or_create_direct(s, cast.bob, OpenDirect([424242])))
    # a guest may only message people they share a conversation with
    await refused(
        db, NotFound, "user_not_found", lambda s: get_or_create_direct(s, cast.gus, OpenDirect([cast.carol.id]))
    )
    group = await create(db, cast.carol, "Clients", kind="private")
    await add(db, cast.carol, group.id, cast.gus)
    assert (await _direct(db, cast.gus, [cast.carol])).member_count == 2
    # nobody joins, invites, leaves, renames or archives a direct conversation
    direct = await _direct(db, cast.bob, [cast.carol])
    await refused(db, Forbidden, "not_allowed", lambda s: add_member(s, cast.bob, direct.id, AddMember(cast.maya.id)))
    await refused(db, Forbidden, "not_allowed", lambda s: leave_conversation(s, cast.bob, direct.id))
    await refused(
        db,
        Forbidden,
        "not_allowed",
        lambda s: update_conversation(s, cast.bob, direct.id, UpdateConversation(name="x")),
    )
    await refused(
        db, NotFound, "conversation_not_found", lambda s: add_member(s, cast.maya, direct.id, AddMember(cast.maya.id))
    )


# --- updating -------------------------------------------------------------------------


async def test_rename_and_archive(db: Database, cast: Cast, published: list[Event]) -> None:
    channel = await create(db, cast.bob, "General")
    await create(db, cast.bob, "Random")
    await refused(
        db,
        Forbidden,
        "not_allowed",
        lambda s: update_conversation(s, cast.bob, channel.id, UpdateConversation(name="x")),
    )
    await refused(
        db,
        Conflict,
        "name_taken",
        lambda s: update_conversation(s, cast.maya, channel.id, UpdateConversation(name="RANDOM")),
    )
    mark = len(published)
    async with db.transaction() as s:
        renamed = await update_conversation(
            s, cast.maya, channel.id, UpdateConversation(name="Company", description="All hands")
        )
    assert (renamed.name, renamed.description) == ("Company", "All hands")
    async with db.transaction() as s:
        same = await update_conversation(s, cast.maya, channel.id, UpdateConversation(name="Company"))
    assert same.name == "Company"
    async with db.transaction() as s:
        archived = await update_conversation(s, cast.maya, channel.id, UpdateConversation(archived=True))
    assert archived.archived
    assert [(e.kind, e.data) for e in published[mark:]] == [
        (
            "conversation.updated",
            {
                "changes": {
                    "name": {"old": "General", "new": "Company"},
                    "description": {"old": "", "new": "All hands"},
                }
            },
        ),
        ("conversation.updated", {"changes": {"archived": {"old": False, "new": True}}}),
    ]
    # archived: read-only
    await refused(
        db,
        Forbidden,
        "conversation_archived",
        lambda s: add_member(s, cast.carol, channel.id, AddMember(cast.carol.id)),
    )
    await refused(
        db,
        Forbidden,
        "conversation_archived",
        lambda s: update_conversation(s, cast.maya, channel.id, UpdateConversation(name="Again")),
    )
    # members may still leave; an admin unarchives and renames in one change
    async with db.transaction() as s:
        back = await update_conversation(s, cast.alice, channel.id, UpdateConversation(archived=False, name="Again"))
    assert (back.archived, back.name) == (False, "Again")
    assert published[-1].data["changes"].keys() == {"archived", "name"}


async def test_private_group_creator_manages_it(db: Database, cast: Cast) -> None:
    group = await create(db, cast.bob, "Board", kind="private")
    await add(db, cast.bob, group.id, cast.carol)
    await refused(
        db,
        Forbidden,
        "not_allowed",
        lambda s: update_conversation(s, cast.carol, group.id, UpdateConversation(name="x")),
    )
    async with db.transaction() as s:
        info = await update_conversation(s, cast.bob, group.id, UpdateConversation(name="Council", archived=True))
    assert (info.name, info.archived) == ("Council", True)


# --- starring and reading --------------------------------------------------------------


async def test_star_is_private_to_the_user(db: Database, cast: Cast, published: list[Event]) -> None:
    channel = await create(db, cast.bob, "General")
    await refused(db, Forbidden, "not_allowed", lambda s: set_star(s, cast.carol, channel.id, SetStar(starred=True)))
    mark = len(published)
    async with db.transaction() as s:
        state = await set_star(s, cast.bob, channel.id, SetStar(starred=True))
    async with db.transaction() as s:
        again = await set_star(s, cast.bob, channel.id, SetStar(starred=True))
    assert state.changed and not again.changed
    assert [(e.kind, e.conversation, e.audience, e.subject_id, e.data) for e in published[mark:]] == [
        ("star.changed", None, "subject", cast.bob.id, {"conversation": channel.id, "starred": True})
    ]
    async with db.read() as s:
        assert (await get_conversation(s, cast.bob, channel.id)).starred
        assert not (await get_conversation(s, cast.maya, channel.id)).starred


async def test_lists(db: Database, cast: Cast) -> None:
    general = await create(db, cast.bob, "General")
    await create(db, cast.alice, "Admins only", kind="private")
    news = await create(db, cast.maya, "News")
    await add(db, cast.maya, news.id, cast.gus)
    direct = await _direct(db, cast.bob, [cast.carol])
    async with db.read() as s:
        mine = await list_conversations(s, cast.bob)
        browse = await list_public(s, cast.bob)
        guest_browse = await list_public(s, cast.gus)
        guest_mine = await list_conversations(s, cast.gus)
        members = await list_members(s, cast.carol, news.id)
        with pytest.raises(NotFound):
            await list_members(s, cast.gus, general.id)
    assert [(c.id, c.kind) for c in mine.conversations] == [(general.id, "public"), (direct.id, "direct")]
    assert [(c.name, c.joined, c.member_count) for c in browse.conversations] == [
        ("General", True, 1),
        ("News", False, 2),
    ]
    assert [c.name for c in guest_browse.conversations] == ["News"]
    assert [c.name for c in guest_mine.conversations] == ["News"]
    assert [m.username for m in members.members] == ["maya", "gus"]


# --- races (real concurrency on PostgreSQL; one writer on SQLite) --------------------------


async def test_concurrent_changes_settle_on_one_outcome(db: Database, cast: Cast, published: list[Event]) -> None:
    channel = await create(db, cast.bob, "General")
    mark = len(published)
    joins = await asyncio.gather(*(add(db, cast.carol, channel.id, cast.carol) for _ in range(4)))
    assert sorted(j.changed for j in joins) == [False, False, False, True]
    opened = await asyncio.gather(*(_opened(db, cast.bob, cast.maya) for _ in range(4)))
    assert len({o.conversation.id for o in opened}) == 1
    assert sorted(o.created for o in opened) == [False, False, False, True]
    results = await asyncio.gather(
        *(create(db, cast.maya, name) for name in ("Launch", "launch", "LAUNCH")), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Conflict", "ConversationInfo"]
    assert [e.kind for e in published[mark:]] == ["member.joined", "conversation.created", "conversation.created"]
    async with db.read() as s:
        assert len((await list_members(s, cast.bob, channel.id)).members) == 2


async def _opened(db: Database, actor: Actor, other: Actor) -> Any:
    async with db.transaction() as s:
        return await get_or_create_direct(s, actor, OpenDirect(user_ids=[other.id]))

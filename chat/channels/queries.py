"""Read side for conversations: my list, the public directory, one conversation, its members.

Every function takes the actor and answers only what the policy lets them
see; a conversation enters through ``policy.access_conversation``. The
results are frozen dataclasses (they are also the REST response schemas).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.policy import Kind, access_conversation, can_view, owner_of, require
from chat.channels.reads import TopicUnread, unread_counts
from chat.domain.actors import Actor
from chat.store import models


@dataclass(frozen=True)
class UserBrief:
    """Who someone is, as shown next to a conversation or a message."""

    id: int
    username: str
    display_name: str
    role: str
    is_bot: bool


@dataclass(frozen=True)
class ConversationInfo:
    """A conversation as the caller sees it."""

    id: int
    kind: Kind
    name: str | None  # null for direct conversations: clients show the other members
    description: str
    archived: bool
    created_by: int
    created_at: datetime
    member_count: int
    joined: bool  # the caller is a member
    starred: bool  # the caller's own favourite flag
    others: list[UserBrief] | None  # direct conversations: the members other than the caller; else null
    unread: int  # the caller's unread messages, muted topics left out (0 when not a member)
    unread_topics: list[TopicUnread]  # per topic, muted ones included and flagged
    unread_mentions: int  # unread messages that mention the caller (@name, @all, @topic)
    owner_id: int | None = None  # who manages it (its creator until handed over); null for direct conversations
    is_default: bool = False  # new users join it (public channels chosen by admins)


@dataclass(frozen=True)
class ConversationList:
    conversations: list[ConversationInfo]


@dataclass(frozen=True)
class MemberInfo:
    id: int
    username: str
    display_name: str
    role: str
    is_bot: bool
    joined_at: datetime


@dataclass(frozen=True)
class MemberList:
    members: list[MemberInfo]


def user_brief(user: models.User) -> UserBrief:
    return UserBrief(user.id, user.username, user.display_name, user.role, user.is_bot)


async def list_conversations(session: AsyncSession, actor: Actor) -> ConversationList:
    """The conversations the actor is a member of (archived ones too), oldest first."""
    rows = (
        await session.execute(
            select(models.Conversation, models.Membership)
            .join(models.Membership, models.Membership.conversation_id == models.Conversation.id)
            .where(models.Membership.user_id == actor.id)
            .order_by(models.Conversation.id)
        )
    ).all()
    return ConversationList(await describe(session, actor, [(c, m) for c, m in rows]))


async def list_public(session: AsyncSession, actor: Actor) -> ConversationList:
    """Every public channel the actor may see, each with ``joined``, ordered by name.

    Guests see only the public channels they were added to: like Zulip's
    ``GET /streams``, which ignores ``include_public`` for guests, the list is
    filtered rather than refused (a 403 would tell a client nothing useful).
    """
    query = (
        select(models.Conversation, models.Membership)
        .outerjoin(
            models.Membership,
            (models.Membership.conversation_id == models.Conversation.id) & (models.Membership.user_id == actor.id),
        )
        .where(models.Conversation.kind == "public")
        .order_by(models.Conversation.name_key, models.Conversation.id)
    )
    rows = (await session.execute(query)).all()
    visible = [(c, m) for c, m in rows if can_view(actor, "public", m is not None)]
    return ConversationList(await describe(session, actor, visible))


async def get_conversation(session: AsyncSession, actor: Actor, conversation_id: int) -> ConversationInfo:
    access = await access_conversation(session, actor, conversation_id)
    (info,) = await describe(session, actor, [(access.conversation, access.membership)])
    return info


async def list_members(session: AsyncSession, actor: Actor, conversation_id: int) -> MemberList:
    """The members of a conversation the actor may see, in the order they joined."""
    access = await access_conversation(session, actor, conversation_id)
    require("list_members", actor, access.facts(actor))
    rows = (
        await session.execute(
            select(models.User, models.Membership.joined_at)
            .join(models.Membership, models.Membership.user_id == models.User.id)
            .where(models.Membership.conversation_id == conversation_id)
            .order_by(models.Membership.joined_at, models.User.id)
        )
    ).all()
    return MemberList(
        [MemberInfo(u.id, u.username, u.display_name, u.role, u.is_bot, joined_at) for u, joined_at in rows]
    )


async def member_ids(session: AsyncSession, conversation_id: int) -> tuple[int, ...]:
    """The current member ids, sorted (what membership events carry as ``members``)."""
    ids = await session.scalars(
        select(models.Membership.user_id)
        .where(models.Membership.conversation_id == conversation_id)
        .order_by(models.Membership.user_id)
    )
    return tuple(ids)


async def describe_one(session: AsyncSession, actor: Actor, conversation: models.Conversation) -> ConversationInfo:
    """``describe`` for one conversation the actor may see (loads their membership)."""
    membership = await session.get(models.Membership, (conversation.id, actor.id))
    (info,) = await describe(session, actor, [(conversation, membership)])
    return info


async def describe(
    session: AsyncSession,
    actor: Actor,
    rows: Sequence[tuple[models.Conversation, models.Membership | None]],
) -> list[ConversationInfo]:
    """Conversations (already authorised) with their member counts and, for DMs, the other members.

    Three queries whatever the number of conversations.
    """
    ids = [c.id for c, _ in rows]
    counts: dict[int, int] = {}
    others: dict[int, list[UserBrief]] = {}
    if ids:
        count_rows = await session.execute(
            select(models.Membership.conversation_id, func.count())
            .where(models.Membership.conversation_id.in_(ids))
            .group_by(models.Membership.conversation_id)
        )
        counts = {cid: int(n) for cid, n in count_rows.all()}
    direct_ids = [c.id for c, _ in rows if c.kind == "direct"]
    if direct_ids:
        other_rows = await session.execute(
            select(models.Membership.conversation_id, models.User)
            .join(models.User, models.User.id == models.Membership.user_id)
            .where(models.Membership.conversation_id.in_(direct_ids), models.Membership.user_id != actor.id)
            .order_by(models.User.id)
        )
        for cid, user in other_rows.all():
            others.setdefault(cid, []).append(user_brief(user))
    joined_ids = [c.id for c, m in rows if m is not None]
    unread = await unread_counts(session, actor.id, joined_ids)
    return [
        ConversationInfo(
            id=c.id,
            kind=c.kind,  # type: ignore[arg-type]
            name=c.name,
            description=c.description,
            archived=c.archived,
            created_by=c.created_by,
            created_at=c.created_at,
            member_count=counts.get(c.id, 0),
            joined=m is not None,
            starred=bool(m is not None and m.starred),
            others=others.get(c.id, []) if c.kind == "direct" else None,
            unread=unread[c.id].unread if c.id in unread else 0,
            unread_topics=unread[c.id].topics if c.id in unread else [],
            unread_mentions=unread[c.id].mentions if c.id in unread else 0,
            owner_id=None if c.kind == "direct" else owner_of(c),
            is_default=c.is_default,
        )
        for c, m in rows
    ]


async def conversation_ids_of(session: AsyncSession, user_id: int) -> list[int]:
    """Every conversation ``user_id`` is a member of (what a new socket follows)."""
    return list((await session.scalars(_CONVERSATIONS_OF, {"user": user_id})).all())


_CONVERSATIONS_OF = select(models.Membership.conversation_id).where(models.Membership.user_id == bindparam("user"))


async def all_memberships(session: AsyncSession) -> dict[int, set[int]]:
    """Conversation id -> member ids, for the realtime hub's routing table."""
    table: dict[int, set[int]] = {}
    rows = await session.execute(select(models.Membership.conversation_id, models.Membership.user_id))
    for conversation_id, user_id in rows.all():
        table.setdefault(int(conversation_id), set()).add(int(user_id))
    return table

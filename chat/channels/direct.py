"""Direct conversations: 1:1 or a small group of up to 8 people, fixed membership, one per set of people.

``get_or_create_direct`` returns the conversation of exactly the caller and
the given people, creating it on first use with one ``conversation.created``
event that lists every member. "One per set of people" is the unique
``direct_key`` (the sorted member ids); two callers racing to create the same
conversation both get the one that won.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.commands import DIRECT_MAX_MEMBERS, OpenDirect
from chat.channels.policy import can_message_user
from chat.channels.queries import ConversationInfo, describe_one
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Invalid, NotFound
from chat.store import models


@dataclass(frozen=True)
class DirectOpened:
    conversation: ConversationInfo
    created: bool


def user_not_found(user_id: int) -> NotFound:
    """An unknown or deactivated user (and, for a guest, someone they cannot know about)."""
    return NotFound("user_not_found", f"there is no active user {user_id}", user_id=user_id)


async def get_or_create_direct(session: AsyncSession, actor: Actor, cmd: OpenDirect) -> DirectOpened:
    """The direct conversation of exactly the caller and ``user_ids``; created on first use.

    ``user_ids=[]`` (or only the caller's id) is a conversation with yourself,
    as in Slack. Unknown and deactivated users are ``user_not_found`` (404);
    so is, for a guest, anyone they share no conversation with (a guest cannot
    tell that such people exist). An existing conversation is returned even if
    one of its members has since been deactivated.
    """
    people = sorted({*cmd.user_ids, actor.id})
    if len(people) > DIRECT_MAX_MEMBERS:
        raise Invalid(
            "too_many_members",
            f"a direct conversation has at most {DIRECT_MAX_MEMBERS} people, including you",
            field="user_ids",
            limit=DIRECT_MAX_MEMBERS,
        )
    key = ",".join(str(i) for i in people)
    existing = await _by_key(session, key)
    if existing is not None:
        return DirectOpened(await describe_one(session, actor, existing), created=False)
    await _require_messageable(session, actor, [i for i in people if i != actor.id])
    now = models.utcnow()
    conversation = models.Conversation(
        kind="direct",
        name=None,
        name_key=None,
        direct_key=key,
        description="",
        created_by=actor.id,
        created_at=now,
        archived=False,
    )
    try:
        async with session.begin_nested():
            session.add(conversation)
            await session.flush()
    except IntegrityError:
        # Someone opened the same conversation at the same moment: theirs is ours.
        winner = await _by_key(session, key)
        if winner is None:
            raise
        return DirectOpened(await describe_one(session, actor, winner), created=False)
    for user_id in people:
        session.add(models.Membership(conversation_id=conversation.id, user_id=user_id, joined_at=now, starred=False))
    await session.flush()
    await append_event(
        session,
        kind="conversation.created",
        actor_id=actor.id,
        conversation_id=conversation.id,
        data={
            "conversation": {"id": conversation.id, "kind": "direct", "created_by": actor.id},
            "members": people,
        },
        members=tuple(people),
    )
    return DirectOpened(await describe_one(session, actor, conversation), created=True)


async def _by_key(session: AsyncSession, key: str) -> models.Conversation | None:
    found: models.Conversation | None = await session.scalar(
        select(models.Conversation).where(models.Conversation.direct_key == key)
    )
    return found


async def _require_messageable(session: AsyncSession, actor: Actor, user_ids: list[int]) -> None:
    if not user_ids:
        return
    active = set(
        await session.scalars(select(models.User.id).where(models.User.id.in_(user_ids), models.User.active.is_(True)))
    )
    shared: set[int] = set()
    if actor.is_guest:
        mine = select(models.Membership.conversation_id).where(models.Membership.user_id == actor.id)
        shared = set(
            await session.scalars(
                select(models.Membership.user_id)
                .where(models.Membership.conversation_id.in_(mine), models.Membership.user_id.in_(user_ids))
                .distinct()
            )
        )
    for user_id in user_ids:
        if user_id not in active or not can_message_user(actor, shares_conversation=user_id in shared):
            raise user_not_found(user_id)

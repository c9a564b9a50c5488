"""Conversation actions: create, update, join, invite, leave, remove, star (direct ones: ``direct.py``).

Each action is ``async def verb(session, actor, …)``: it loads through
``policy.access_conversation``, asks the policy, changes rows and appends
exactly one event in the caller's transaction (never commits). A request
that changes nothing (joining twice, starring a starred conversation, an
empty PATCH) writes no event and reports ``changed=False``.

Events (``members`` = member ids right after the change, for the hub):

* ``conversation.created`` — one event carrying the initial member list
  (the creator, or every member of a new direct conversation). A public
  channel's goes to ``audience="everyone"`` (every non-guest may browse it);
  the others to the members.
* ``conversation.updated`` — ``{"changes": {field: {"old", "new"}}}`` for a
  rename, a new description, archiving or unarchiving; to the members
  (guests among them included; browsers re-read the directory).
* ``member.joined`` / ``member.left`` (the actor themselves),
  ``member.invited`` / ``member.removed`` (someone else); ``data.user`` and
  ``subject_id`` name the user, so someone who left or was removed still
  reads the event that says so.
* ``star.changed`` — a per-user preference: account-level chain
  (``conversation_id=None``, so other members see no gap in the
  conversation's ``seq``), ``audience="subject"``, ``subject_id`` = the user.

Names (``chat.channels.names``): a new or changed name may not equal
(``name_taken``) or look like (``name_confusable``, same confusable skeleton)
the name of a conversation the actor can see: every public channel, and the
private groups they are in. A private group they are not in never blocks a
name, so trying names reveals nothing about it (docs/architecture.md, "Names").
Exact public-channel names and "one direct conversation per set of people"
are unique constraints (``uq_conversations_public_name_key``, ``direct_key``);
an insert that loses a race is rolled back to a savepoint and answered as a
conflict (or with the winner). Two confusable (not equal) names created at the
same instant can both pass: the skeleton is checked, not constrained.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.commands import AddMember, CreateConversation, SetStar, UpdateConversation
from chat.channels.direct import user_not_found
from chat.channels.names import confusable_key
from chat.channels.policy import (
    ConversationAccess,
    access_conversation,
    access_managed,
    can_administer,
    can_create,
    can_own_conversation,
    can_set_default,
    owner_of,
    require,
)
from chat.channels.queries import ConversationInfo, describe, member_ids
from chat.config import ChannelCreation, InvitePolicy
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Conflict, Forbidden, Invalid, NotFound
from chat.store import models


@dataclass(frozen=True)
class MemberChange:
    """The outcome of joining, inviting, leaving or removing."""

    conversation: int
    user: int
    member: bool  # whether the user is a member now
    changed: bool  # False: they already were (or already were not)
    member_count: int


@dataclass(frozen=True)
class StarState:
    conversation: int
    starred: bool
    changed: bool


def name_key(name: str) -> str:
    return name.casefold()


async def create_conversation(
    session: AsyncSession, actor: Actor, cmd: CreateConversation, *, channel_creation: ChannelCreation = "members"
) -> ConversationInfo:
    """Create a public channel or a private group; the creator is its first member and its owner.

    ``channel_creation`` is the workspace setting (``admins``: only admins create).
    """
    if not can_create(actor, cmd.kind, channel_creation):
        why = "guests may not create conversations"
        if not actor.is_guest:
            why = "only administrators may create channels and groups in this workspace"
        raise Forbidden("not_allowed", why, action="create")
    await check_name_free(session, actor, cmd.name)
    now = models.utcnow()
    conversation = models.Conversation(
        kind=cmd.kind,
        name=cmd.name,
        name_key=name_key(cmd.name),
        name_skeleton=confusable_key(cmd.name),
        direct_key=None,
        description=cmd.description,
        created_by=actor.id,
        owner_id=actor.id,
        created_at=now,
        archived=False,
    )
    await _insert_named(session, conversation)
    membership = models.Membership(conversation_id=conversation.id, user_id=actor.id, joined_at=now, starred=False)
    session.add(membership)
    await session.flush()
    await append_event(
        session,
        kind="conversation.created",
        actor_id=actor.id,
        conversation_id=conversation.id,
        data={"conversation": _summary(conversation), "members": [actor.id]},
        audience="everyone" if conversation.kind == "public" else "members",
        members=(actor.id,),
    )
    (info,) = await describe(session, actor, [(conversation, membership)])
    return info


async def update_conversation(
    session: AsyncSession, actor: Actor, conversation_id: int, cmd: UpdateConversation
) -> ConversationInfo:
    """Rename, describe, (un)archive, mark as default: one ``conversation.updated`` event for the
    whole change; a new owner: one ``conversation.owner_changed`` event more.

    Unarchiving and renaming in one request is allowed (the rename applies to
    the unarchived conversation); renaming an archived one alone is not. Admins
    manage private groups they are not in (``policy.access_managed``).
    """
    access = await access_managed(session, actor, conversation_id)
    conversation = access.conversation
    facts = access.facts(actor)
    changes: dict[str, dict[str, Any]] = {}
    new_owner = await _new_owner(session, actor, access, cmd.owner_id)
    if cmd.archived is not None and cmd.archived != conversation.archived:
        require("archive", actor, facts)
        changes["archived"] = {"old": conversation.archived, "new": cmd.archived}
    renamed = cmd.name is not None and cmd.name != conversation.name
    described = cmd.description is not None and cmd.description != conversation.description
    if renamed or described:
        still_archived = conversation.archived and cmd.archived is not False
        require("rename", actor, replace(facts, archived=still_archived))
    if renamed:
        assert cmd.name is not None  # noqa: S101 - renamed implies a name
        if name_key(cmd.name) != conversation.name_key:  # a change of case alone is no new name
            await check_name_free(session, actor, cmd.name, exclude=conversation.id)
        changes["name"] = {"old": conversation.name, "new": cmd.name}
    if described:
        changes["description"] = {"old": conversation.description, "new": cmd.description}
    if cmd.is_default is not None and cmd.is_default != conversation.is_default:
        _check_default(actor, conversation, cmd)
        changes["is_default"] = {"old": conversation.is_default, "new": cmd.is_default}
    if changes:
        if "archived" in changes:
            conversation.archived = bool(cmd.archived)
        if "is_default" in changes:
            conversation.is_default = bool(cmd.is_default)
        if cmd.description is not None and described:
            conversation.description = cmd.description
        if cmd.name is not None and renamed:
            conversation.name = cmd.name
            conversation.name_key = name_key(cmd.name)
            conversation.name_skeleton = confusable_key(cmd.name)
            await _flush_named(session, conversation)
        await session.flush()
        await append_event(
            session,
            kind="conversation.updated",
            actor_id=actor.id,
            conversation_id=conversation.id,
            data={"changes": changes},
        )
    if new_owner is not None:
        old_owner = owner_of(conversation)
        conversation.owner_id = new_owner
        await session.flush()
        await append_event(
            session,
            kind="conversation.owner_changed",
            actor_id=actor.id,
            conversation_id=conversation.id,
            data={"owner": {"old": old_owner, "new": new_owner}},
            subject_id=new_owner,
        )
    (info,) = await describe(session, actor, [(conversation, access.membership)])
    return info


async def _new_owner(
    session: AsyncSession, actor: Actor, access: ConversationAccess, owner_id: int | None
) -> int | None:
    """The new owner's id when ``owner_id`` names someone other than the owner (checked), else None."""
    if owner_id is None or owner_id == owner_of(access.conversation):
        return None
    require("transfer", actor, access.facts(actor))
    target = await session.get(models.User, owner_id)
    if target is None:
        raise user_not_found(owner_id)
    is_member = await session.get(models.Membership, (access.conversation.id, owner_id)) is not None
    if not can_own_conversation(target.role, target.is_bot, target.active, is_member):
        raise Invalid(
            "bad_owner",
            "the new owner must be an active member of the conversation, not a guest or a bot",
            field="owner_id",
        )
    return owner_id


def _check_default(actor: Actor, conversation: models.Conversation, cmd: UpdateConversation) -> None:
    """Refuse marking (or unmarking) ``conversation`` as a default channel unless the policy allows it."""
    if not can_administer(actor):
        raise Forbidden("not_allowed", "only administrators choose the default channels", action="set_default")
    archived = conversation.archived if cmd.archived is None else cmd.archived
    if not cmd.is_default or can_set_default(actor, conversation.kind, archived):  # type: ignore[arg-type]
        return  # unmarking is always possible
    if conversation.kind != "public":
        raise Invalid("default_public_only", "only public channels can be default channels", field="is_default")
    raise Forbidden("conversation_archived", "an archived channel cannot be a default channel", action="set_default")


async def add_member(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    cmd: AddMember,
    *,
    invite_policy: InvitePolicy = "members",
) -> MemberChange:
    """Join (``cmd.user_id`` is the actor) or add someone else (``invite_policy`` is the server setting)."""
    if cmd.user_id == actor.id:
        return await join_conversation(session, actor, conversation_id)
    return await invite_member(session, actor, conversation_id, cmd.user_id, invite_policy=invite_policy)


async def join_conversation(session: AsyncSession, actor: Actor, conversation_id: int) -> MemberChange:
    access = await access_conversation(session, actor, conversation_id, lock=True)
    if access.is_member:
        return await _unchanged(session, conversation_id, actor.id, member=True)
    require("join", actor, access.facts(actor))
    return await _add(session, actor, access, actor.id, kind="member.joined")


async def invite_member(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    user_id: int,
    *,
    invite_policy: InvitePolicy = "members",
) -> MemberChange:
    access = await access_conversation(session, actor, conversation_id, lock=True)
    require("invite", actor, access.facts(actor, invite_policy=invite_policy))
    target = await session.get(models.User, user_id)
    if target is None or not target.active:
        raise user_not_found(user_id)
    if await session.get(models.Membership, (conversation_id, user_id)) is not None:
        return await _unchanged(session, conversation_id, user_id, member=True)
    return await _add(session, actor, access, user_id, kind="member.invited")


async def remove_member(session: AsyncSession, actor: Actor, conversation_id: int, user_id: int) -> MemberChange:
    """Leave (``user_id`` is the actor) or remove someone else; ``member_not_found`` if they are not in."""
    access = await access_conversation(session, actor, conversation_id, lock=True)
    leaving = user_id == actor.id
    require("leave" if leaving else "remove", actor, access.facts(actor, target_is_self=leaving))
    membership = access.membership if leaving else await session.get(models.Membership, (conversation_id, user_id))
    if membership is None:
        raise NotFound("member_not_found", f"user {user_id} is not a member of this conversation", user_id=user_id)
    return await drop_member(session, actor, membership, leaving=leaving)


async def drop_member(
    session: AsyncSession, actor: Actor, membership: models.Membership, *, leaving: bool = False
) -> MemberChange:
    """Delete a membership the caller was allowed to end (the conversation row locked) and write
    ``member.left`` or ``member.removed``."""
    conversation_id, user_id = membership.conversation_id, membership.user_id
    await session.delete(membership)
    await session.flush()
    members = await member_ids(session, conversation_id)
    await append_event(
        session,
        kind="member.left" if leaving else "member.removed",
        actor_id=actor.id,
        conversation_id=conversation_id,
        data={"user": user_id},
        subject_id=user_id,
        members=members,
    )
    return MemberChange(conversation_id, user_id, member=False, changed=True, member_count=len(members))


async def leave_conversation(session: AsyncSession, actor: Actor, conversation_id: int) -> MemberChange:
    return await remove_member(session, actor, conversation_id, actor.id)


async def set_star(session: AsyncSession, actor: Actor, conversation_id: int, cmd: SetStar) -> StarState:
    """Star or unstar a conversation the actor is a member of (``star.changed``, only to the actor)."""
    access = await access_conversation(session, actor, conversation_id)
    require("star", actor, access.facts(actor))
    membership = access.membership
    if membership is None:  # can_star requires membership; keeps the type checker informed
        raise Forbidden("not_allowed", "only members may star a conversation", action="star")
    if membership.starred == cmd.starred:
        return StarState(conversation_id, cmd.starred, changed=False)
    membership.starred = cmd.starred
    await session.flush()
    await append_event(
        session,
        kind="star.changed",
        actor_id=actor.id,
        conversation_id=None,
        data={"conversation": conversation_id, "starred": cmd.starred},
        audience="subject",
        subject_id=actor.id,
    )
    return StarState(conversation_id, cmd.starred, changed=True)


# --- helpers ------------------------------------------------------------------------


def _summary(conversation: models.Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "kind": conversation.kind,
        "name": conversation.name,
        "description": conversation.description,
        "archived": conversation.archived,
        "created_by": conversation.created_by,
    }


async def check_name_free(session: AsyncSession, actor: Actor, name: str, *, exclude: int | None = None) -> None:
    """Refuse ``name`` if a conversation the actor can see has it (``name_taken``) or one like it (``name_confusable``).

    Visible: every public channel and the actor's own groups (and direct
    conversations, which have no name). Invisible groups are not asked, so the
    answer is the same whether or not one of them has a similar name.
    """
    c = models.Conversation
    key, look = name_key(name), confusable_key(name)
    mine = select(models.Membership.conversation_id).where(models.Membership.user_id == actor.id)
    query = (
        select(c.name, c.name_key)
        .where(or_(c.name_key == key, c.name_skeleton == look), or_(c.kind == "public", c.id.in_(mine)))
        .order_by(c.name_key != key, c.id)
        .limit(1)
    )
    if exclude is not None:
        query = query.where(c.id != exclude)
    row = (await session.execute(query)).first()
    if row is None:
        return
    if row.name_key == key:
        raise _name_taken(name)
    raise Conflict(
        "name_confusable",
        f"{name!r} looks like the name of {row.name!r}; choose a name that reads differently",
        field="name",
        conflicts_with=row.name,
    )


def _name_taken(name: str | None) -> Conflict:
    return Conflict("name_taken", f"a channel or group named {name!r} exists already", field="name")


async def _insert_named(session: AsyncSession, conversation: models.Conversation) -> None:
    try:
        async with session.begin_nested():
            session.add(conversation)
            await session.flush()
    except IntegrityError:
        raise _name_taken(conversation.name) from None


async def _flush_named(session: AsyncSession, conversation: models.Conversation) -> None:
    name = conversation.name
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise _name_taken(name) from None


async def _add(
    session: AsyncSession, actor: Actor, access: ConversationAccess, user_id: int, *, kind: str
) -> MemberChange:
    conversation_id = access.conversation.id
    session.add(
        models.Membership(conversation_id=conversation_id, user_id=user_id, joined_at=models.utcnow(), starred=False)
    )
    await session.flush()
    members = await member_ids(session, conversation_id)
    await append_event(
        session,
        kind=kind,
        actor_id=actor.id,
        conversation_id=conversation_id,
        data={"user": user_id},
        subject_id=user_id,
        members=members,
    )
    return MemberChange(conversation_id, user_id, member=True, changed=True, member_count=len(members))


async def _unchanged(session: AsyncSession, conversation_id: int, user_id: int, *, member: bool) -> MemberChange:
    count = len(await member_ids(session, conversation_id))
    return MemberChange(conversation_id, user_id, member=member, changed=False, member_count=count)

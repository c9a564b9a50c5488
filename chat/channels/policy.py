"""Who may see and do what: the only place that decides access.

Pure functions over already-loaded facts (the actor, the conversation's kind
and state, whether the actor is a member), so the whole policy is one
truth table (``tests/channels/test_policy.py``). ``access_conversation``
loads a conversation for an action and raises ``NotFound``, never
``Forbidden``, when the actor may not even know it exists.

The rules (Zulip- and Slack-like):

* **public** channels: anyone but a guest may see them (preview without
  joining), list their members, join and leave. A guest sees only the public
  channels they were added to.
* **private** groups: only members see them. Admins do *not* see private
  groups they are not in (as in Zulip, where an organisation owner cannot
  read a private stream without being subscribed); they get the same 404 as
  everyone else.
* **direct** conversations: fixed membership. Nobody joins, invites, leaves,
  removes, renames or archives; members may post and star.
* Posting and starring need membership. Starring is a per-member preference
  (it lives on the membership row), so a non-member cannot star.
* Inviting (adding someone else): to a public channel, any non-guest, like
  Zulip's "subscribe others" (they could join themselves anyway); to a private
  group, its members when ``invite_policy == "members"``, else only admins who
  are members. Guests never invite.
* Removing someone else: admins and moderators in public channels, admins
  (who are members) in private groups. Leaving is always allowed to a member
  of a public channel or private group, archived or not. Removing others stays
  possible in an archived conversation: it only takes access away.
* Renaming / describing, archiving and handing over ownership: admins and
  moderators for public channels; for private groups the group's owner (a
  member; ``owner_id``, else its creator) and admins, member or not: an admin
  manages a group they cannot read (``access_managed``). Whoever may archive
  may also unarchive.
* Creating channels and groups: non-guests, or only admins when the
  workspace's ``channel_creation`` is ``admins`` (direct conversations are not
  created: ``can_message_user``).
* Archived conversations are read-only: no post, join, invite or rename.
* Direct conversations: anyone may open one with active users; a guest only
  with people they already share a conversation with (``can_message_user``).
* ``can_moderate`` (delete others' messages): admins and moderators, in
  conversations they can see.
* Bots are accounts with a role like any other and follow the same rules.
  Deactivated users never reach the policy: authentication refuses them.
* A muted user (``users.muted_until`` in the future, set by a moderator
  resolving a report) may not post or edit anywhere until then (403 ``muted``
  with ``until``); see ``chat.channels.policy_accounts``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.policy_accounts import *  # noqa: F403  (re-exported: the account-level rules)
from chat.channels.policy_accounts import MUTES_KEY, can_administer, load_mutes, require_unmuted
from chat.config import ChannelCreation, InvitePolicy
from chat.domain.actors import Actor
from chat.errors import Forbidden, NotFound
from chat.store import models
from chat.store.db import cached, remembers, stage

Kind = Literal["public", "private", "direct"]
Action = Literal[
    "view",
    "join",
    "post",
    "invite",
    "leave",
    "remove",
    "rename",
    "archive",
    "star",
    "list_members",
    "moderate",
    "transfer",
]

KINDS: tuple[Kind, ...] = ("public", "private", "direct")


@dataclass(frozen=True)
class Facts:
    """What the policy needs to know about a conversation, loaded beforehand."""

    kind: Kind
    is_member: bool
    archived: bool = False
    invite_policy: InvitePolicy = "members"
    target_is_self: bool = False  # remove: the actor removes themselves (leaving)
    is_creator: bool = False  # the actor owns the conversation (``owner_id``, else its creator)


# --- the rules ---------------------------------------------------------------------


def can_create(actor: Actor, kind: Kind, channel_creation: ChannelCreation = "members") -> bool:
    """Create a public channel or private group (direct conversations: ``can_message_user``)."""
    if channel_creation == "admins" and not actor.is_admin:
        return False
    return kind in ("public", "private") and not actor.is_guest


def can_view(actor: Actor, kind: Kind, is_member: bool) -> bool:
    if is_member:
        return True
    return kind == "public" and not actor.is_guest


def can_join(actor: Actor, kind: Kind, is_member: bool, archived: bool) -> bool:
    """Join a conversation yourself (False when already in: there is nothing to join)."""
    return kind == "public" and not actor.is_guest and not is_member and not archived


def can_post(actor: Actor, kind: Kind, is_member: bool, archived: bool) -> bool:
    return is_member and not archived


def can_invite(actor: Actor, kind: Kind, is_member: bool, archived: bool, invite_policy: InvitePolicy) -> bool:
    """Add someone else to the conversation."""
    if archived or actor.is_guest:
        return False
    if kind == "public":
        return True
    if kind == "private":
        return is_member and (invite_policy == "members" or actor.is_admin)
    return False


def can_remove(actor: Actor, kind: Kind, is_member: bool, archived: bool, target_is_self: bool) -> bool:
    """Remove a member; ``target_is_self`` means leaving. ``archived`` does not matter (see module doc)."""
    if kind == "direct":
        return False
    if target_is_self:
        return is_member
    if kind == "public":
        return actor.is_staff
    return actor.is_admin and is_member


def can_rename(actor: Actor, kind: Kind, is_member: bool, archived: bool, is_creator: bool) -> bool:
    """Change the name or the description."""
    return not archived and _can_manage(actor, kind, is_member, is_creator)


def can_archive(actor: Actor, kind: Kind, is_member: bool, archived: bool, is_creator: bool) -> bool:
    """Archive, or unarchive (``archived`` is the current state; both directions need the same right)."""
    return _can_manage(actor, kind, is_member, is_creator)


def _can_manage(actor: Actor, kind: Kind, is_member: bool, is_creator: bool) -> bool:
    if kind == "public":
        return actor.is_staff
    if kind == "private":
        return actor.is_admin or (is_member and is_creator and not actor.is_guest)
    return False


def can_star(actor: Actor, kind: Kind, is_member: bool) -> bool:
    return is_member


def can_list_members(actor: Actor, kind: Kind, is_member: bool) -> bool:
    return can_view(actor, kind, is_member)


def can_message_user(actor: Actor, shares_conversation: bool) -> bool:
    """Open a direct conversation with someone (an active user): guests only with people they already meet."""
    return not actor.is_guest or shares_conversation


def can_moderate(actor: Actor, kind: Kind, is_member: bool) -> bool:
    """Delete or edit other people's messages."""
    return actor.is_staff and can_view(actor, kind, is_member)


def allowed(action: Action, actor: Actor, facts: Facts) -> bool:
    """One entry point for every question, for the truth table and for ``require``."""
    f = facts
    match action:
        case "view":
            return can_view(actor, f.kind, f.is_member)
        case "join":
            return can_join(actor, f.kind, f.is_member, f.archived)
        case "post":
            return can_post(actor, f.kind, f.is_member, f.archived)
        case "invite":
            return can_invite(actor, f.kind, f.is_member, f.archived, f.invite_policy)
        case "leave":
            return can_remove(actor, f.kind, f.is_member, f.archived, target_is_self=True)
        case "remove":
            return can_remove(actor, f.kind, f.is_member, f.archived, f.target_is_self)
        case "rename":
            return can_rename(actor, f.kind, f.is_member, f.archived, f.is_creator)
        case "archive":
            return can_archive(actor, f.kind, f.is_member, f.archived, f.is_creator)
        case "star":
            return can_star(actor, f.kind, f.is_member)
        case "list_members":
            return can_list_members(actor, f.kind, f.is_member)
        case "moderate":
            return can_moderate(actor, f.kind, f.is_member)
        case "transfer":  # hand over ownership: whoever may archive
            return can_archive(actor, f.kind, f.is_member, f.archived, f.is_creator)
    raise ValueError(f"unknown action {action!r}")


def require(action: Action, actor: Actor, facts: Facts) -> None:
    """Raise ``Forbidden`` unless ``allowed``; says so when only the archive stands in the way."""
    if allowed(action, actor, facts):
        return
    if facts.archived and allowed(action, actor, replace(facts, archived=False)):
        raise Forbidden("conversation_archived", "the conversation is archived and read-only", action=action)
    raise Forbidden("not_allowed", f"you may not {action.replace('_', ' ')} in this conversation", action=action)


# --- loading ------------------------------------------------------------------------


def conversation_not_found() -> NotFound:
    """The one answer for a missing id and for a conversation the actor may not see."""
    return NotFound("conversation_not_found", "there is no such conversation")


@dataclass(frozen=True)
class ConversationAccess:
    """A conversation the actor may see, with the actor's membership (None if not a member)."""

    conversation: models.Conversation
    membership: models.Membership | None
    muted_until: datetime | None = None  # the actor's mute, when asked for (``with_mute=True``)

    @property
    def kind(self) -> Kind:
        return self.conversation.kind  # type: ignore[return-value]

    @property
    def is_member(self) -> bool:
        return self.membership is not None

    def facts(self, actor: Actor, *, invite_policy: InvitePolicy = "members", target_is_self: bool = False) -> Facts:
        return Facts(
            kind=self.kind,
            is_member=self.is_member,
            archived=self.conversation.archived,
            invite_policy=invite_policy,
            target_is_self=target_is_self,
            is_creator=owner_of(self.conversation) == actor.id,
        )


async def access_conversation(
    session: AsyncSession, actor: Actor, conversation_id: int, *, lock: bool = False, with_mute: bool = False
) -> ConversationAccess:
    """Load a conversation the actor may see, or raise ``conversation_not_found``.

    ``lock=True`` (actions that change membership or settings) takes a row lock
    on the conversation first (``SELECT … FOR NO KEY UPDATE`` on PostgreSQL; SQLite has
    one writer), so concurrent joins and leaves see each other. Take it before
    appending any event, as every action does, so locks are always taken in the
    same order: conversation row, then the event lock.

    ``with_mute=True`` (posting and editing) also reads the actor's ``muted_until``,
    as one more column of the same statement.
    """
    muted_until = None
    if lock:
        # FOR NO KEY UPDATE: serialises membership and settings changes without blocking
        # inserts that merely reference the row (messages, memberships). The membership is
        # read after the lock is held, so a concurrent join or leave is seen.
        locked = (
            select(models.Conversation)
            .where(models.Conversation.id == conversation_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        conversation = (await session.execute(locked)).scalar_one_or_none()
        if conversation is None:
            raise conversation_not_found()
        membership = await session.get(models.Membership, (conversation.id, actor.id), populate_existing=True)
        if with_mute:
            muted_until = await session.scalar(select(models.User.muted_until).where(models.User.id == actor.id))
    else:
        # one statement on the hot path (every post, every read)
        mine = (models.Membership.conversation_id == models.Conversation.id) & (models.Membership.user_id == actor.id)
        columns: list[object] = [models.Conversation, models.Membership]
        if with_mute:
            columns.append(select(models.User.muted_until).where(models.User.id == actor.id).scalar_subquery())
        joined = (
            select(*columns)  # type: ignore[call-overload]
            .outerjoin(models.Membership, mine)
            .where(models.Conversation.id == conversation_id)
            .execution_options(populate_existing=True)
        )
        row = (await session.execute(joined)).one_or_none()
        if row is None:
            raise conversation_not_found()
        conversation, membership = row[0], row[1]
        if with_mute:
            muted_until = row[2]
    if not can_view(actor, conversation.kind, membership is not None):  # type: ignore[arg-type]
        raise conversation_not_found()
    return ConversationAccess(conversation, membership, muted_until)


@dataclass(frozen=True)
class Standing:
    """A conversation as a post needs it: its kind, state and members.

    The SQLite writer remembers it between posts (``chat.store.writer``) until an
    event other than a message or reaction event changes the conversation; on
    PostgreSQL, where another process may change membership at any moment, a post
    reads access inside its transaction instead (:func:`access_conversation`).
    """

    kind: Kind
    archived: bool
    owner_id: int | None
    members: frozenset[int]

    def facts(self, actor: Actor) -> Facts:
        return Facts(
            kind=self.kind,
            is_member=actor.id in self.members,
            archived=self.archived,
            is_creator=self.owner_id == actor.id,
        )


async def require_post(session: AsyncSession, actor: Actor, conversation_id: int) -> Facts:
    """The facts of a conversation the actor may post in, or the error a post gets (404 when unseen,
    403 ``muted`` while the actor is muted)."""
    if remembers(session):
        standing = cached(session, ("standing", conversation_id)) or await _load_standing(session, conversation_id)
        facts = standing.facts(actor)
        if not can_view(actor, facts.kind, facts.is_member):
            raise conversation_not_found()
        mutes: dict[int, datetime] | None = cached(session, MUTES_KEY)
        if mutes is None:
            mutes = await load_mutes(session)
        require_unmuted(mutes.get(actor.id))
    else:
        access = await access_conversation(session, actor, conversation_id, with_mute=True)
        facts = access.facts(actor)
        require_unmuted(access.muted_until)
    require("post", actor, facts)
    return facts


async def _load_standing(session: AsyncSession, conversation_id: int) -> Standing:
    c = models.Conversation
    owner = func.coalesce(c.owner_id, c.created_by).label("owner_id")
    row = (await session.execute(select(c.kind, c.archived, owner).where(c.id == conversation_id))).one_or_none()
    if row is None:
        raise conversation_not_found()
    members = await session.scalars(
        select(models.Membership.user_id).where(models.Membership.conversation_id == conversation_id)
    )
    standing = Standing(kind=row.kind, archived=row.archived, owner_id=row.owner_id, members=frozenset(members))
    stage(session, ("standing", conversation_id), standing)
    return standing


# --- messages and topics ----------------------------------------------------------------
#
# * **Edit** a message: only its author, while a member of a conversation that is
#   not archived (editing is posting again).
# * **Delete** a message: its author (as for editing), or a moderator / admin who
#   can see the conversation (``can_moderate``), even when it is archived:
#   takedowns must stay possible.
# * **React**: whoever may post (members, not archived).
# * **Resolve / unresolve** a topic: whoever may post in the conversation (Zulip's
#   default: anyone).
# * **Rename** a topic (inside its conversation): moderators and admins, and the
#   topic's participants (who wrote at least one message in it), if they may
#   post there; never guests unless they are staff (they are not).
# * **Move** messages to another conversation: the actor must be able to post in
#   both; moderators and admins may move anything, others only messages that are
#   all their own. Moving someone else's words into a group their readers cannot
#   see is a moderation act.
# * Direct conversations have no topics: nothing to rename, resolve or move.


def can_edit_message(actor: Actor, is_author: bool, kind: Kind, is_member: bool, archived: bool) -> bool:
    return is_author and can_post(actor, kind, is_member, archived)


def can_delete_message(actor: Actor, is_author: bool, kind: Kind, is_member: bool, archived: bool) -> bool:
    if can_edit_message(actor, is_author, kind, is_member, archived):
        return True
    return can_moderate(actor, kind, is_member)


def can_react(actor: Actor, kind: Kind, is_member: bool, archived: bool) -> bool:
    return can_post(actor, kind, is_member, archived)


def can_resolve_topic(actor: Actor, kind: Kind, is_member: bool, archived: bool) -> bool:
    return kind != "direct" and can_post(actor, kind, is_member, archived)


def can_rename_topic(actor: Actor, kind: Kind, is_member: bool, archived: bool, is_participant: bool) -> bool:
    if kind == "direct" or actor.is_guest or not can_post(actor, kind, is_member, archived):
        return False
    return actor.is_staff or is_participant


def can_move_topic(actor: Actor, source: Facts, target: Facts, moves_only_own: bool) -> bool:
    if "direct" in (source.kind, target.kind) or actor.is_guest:
        return False
    if not can_post(actor, source.kind, source.is_member, source.archived):
        return False
    if not can_post(actor, target.kind, target.is_member, target.archived):
        return False
    return actor.is_staff or moves_only_own


# --- the archive (pages, exports): whoever can view the conversation, and admins (not bots) any
# conversation, as auditors act through an admin account and every export is logged
# (``chat.channels.archive.access_archive`` loads the facts).


def can_read_archive(actor: Actor, kind: Kind, is_member: bool) -> bool:
    return can_view(actor, kind, is_member) or (actor.is_admin and not actor.is_bot)


# --- workspace administration: conversations, settings, the audit log ----------------------
#
# * Admins (not bots) list every channel and group with its member count, never its content;
#   of direct conversations, private correspondence, only how many there are.
# * Admins rename, archive and hand over any channel or group, member or not (``_can_manage``);
#   the new owner is an active human member who is not a guest.
# * Default channels (new users join them): public, not archived, marked by admins.
# * Authors edit (and delete) their messages within the workspace's ``edit_window_s``
#   (``delete_window_s``), 0 meaning no limit; moderators deleting are not limited.
# * Workspace settings and the audit log: admins who are not bots.


def can_set_default(actor: Actor, kind: Kind, archived: bool) -> bool:
    return can_administer(actor) and kind == "public" and not archived


def can_own_conversation(role: str, is_bot: bool, active: bool, is_member: bool) -> bool:
    return active and is_member and not is_bot and role != "guest"


def can_fetch_file(is_uploader: bool, carried: bool, visible_in_a_message: bool) -> bool:
    """A file follows the messages carrying it (live ones the actor can see); before any carries it,
    only its uploader may fetch it. Once carried, a deleted message's file is no one's."""
    return visible_in_a_message if carried else is_uploader


def within_window(age_s: float, window_s: int) -> bool:
    """An author's edit or delete ``age_s`` seconds after posting, with a window of ``window_s`` (0: none)."""
    return window_s == 0 or age_s <= window_s


def owner_of(conversation: models.Conversation) -> int:
    return conversation.owner_id if conversation.owner_id is not None else conversation.created_by


async def access_managed(session: AsyncSession, actor: Actor, conversation_id: int) -> ConversationAccess:
    """``access_conversation(lock=True)``, except that an admin also reaches a private group they are not
    in, to manage it (rename, archive, hand over) but never to read it."""
    try:
        return await access_conversation(session, actor, conversation_id, lock=True)
    except NotFound:
        if not can_administer(actor):
            raise
    conversation = await session.get(models.Conversation, conversation_id)  # row locked by the attempt above
    if conversation is None or conversation.kind != "private":
        raise conversation_not_found()
    return ConversationAccess(conversation, None)

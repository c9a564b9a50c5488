"""Admins set a conversation's retention and legal hold, and a user's legal hold; the admin page reads them.

Each change appends one event on the **system** chain, audience ``staff``: a hold is
often confidential, so the members of a conversation are not told (their chain gets
nothing), only the audit log records it.

* ``retention.conversation_changed``: ``{"conversation", "days", "legal_hold",
  "previous": {"days", "legal_hold"}}`` (``days`` null: the workspace's retention).
* ``retention.user_hold_changed``: ``{"user", "legal_hold"}``, ``subject_id`` the user.

A request that changes nothing writes no event. Admins reach every conversation
here, private groups and direct ones included, without seeing any of their content
(``policy.can_manage_retention``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels import policy
from chat.channels.retention import effective_days
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Forbidden, NotFound
from chat.store import models
from chat.validation import Checked, limits

MAX_DAYS = 36500  # a hundred years


@dataclass(frozen=True)
class SetRetention(Checked):
    """A conversation's retention in days (null: the workspace's; 0: forever) and its legal hold."""

    days: int | None = field(metadata=limits(minimum=0, maximum=MAX_DAYS))
    legal_hold: bool


@dataclass(frozen=True)
class SetLegalHold(Checked):
    """Place (``true``) or lift (``false``) a legal hold on a user's messages everywhere."""

    on: bool


@dataclass(frozen=True)
class RetentionInfo:
    """A conversation's retention: its own ``days`` (null: the workspace's), the days in force, its hold."""

    conversation: int
    days: int | None
    effective_days: int
    legal_hold: bool
    changed: bool


@dataclass(frozen=True)
class UserHold:
    user: int
    legal_hold: bool
    changed: bool


def _require_admin(actor: Actor) -> None:
    if not policy.can_manage_retention(actor):
        raise Forbidden("admin_required", "only administrators may change retention and legal holds")


async def set_conversation_retention(
    session: AsyncSession, actor: Actor, conversation_id: int, cmd: SetRetention, *, workspace_days: int
) -> RetentionInfo:
    """Set a conversation's retention and hold (403 ``admin_required``, 404 ``conversation_not_found``)."""
    _require_admin(actor)
    conversation = await session.get(models.Conversation, conversation_id, with_for_update=True)
    if conversation is None:
        raise policy.conversation_not_found()
    previous = {"days": conversation.retention_days, "legal_hold": conversation.legal_hold}
    changed = previous != {"days": cmd.days, "legal_hold": cmd.legal_hold}
    if changed:
        conversation.retention_days, conversation.legal_hold = cmd.days, cmd.legal_hold
        await session.flush()
        await append_event(
            session,
            kind="retention.conversation_changed",
            actor_id=actor.id,
            audience="admins",
            data={
                "conversation": conversation.id,
                "days": cmd.days,
                "legal_hold": cmd.legal_hold,
                "previous": previous,
            },
        )
    return RetentionInfo(
        conversation=conversation.id,
        days=conversation.retention_days,
        effective_days=effective_days(conversation.retention_days, workspace_days),
        legal_hold=conversation.legal_hold,
        changed=changed,
    )


async def set_user_legal_hold(session: AsyncSession, actor: Actor, user_id: int, cmd: SetLegalHold) -> UserHold:
    """Place or lift a user's legal hold (403 ``admin_required``, 404 ``user_not_found``)."""
    _require_admin(actor)
    user = await session.get(models.User, user_id, with_for_update=True) if 0 < user_id < 2**63 else None
    if user is None:
        raise NotFound("user_not_found", "no such user")
    changed = user.legal_hold != cmd.on
    if changed:
        user.legal_hold = cmd.on
        await session.flush()
        await append_event(
            session,
            kind="retention.user_hold_changed",
            actor_id=actor.id,
            audience="admins",  # no subject: the feed gives an event to its subject, and a hold is not announced
            data={"user": user.id, "legal_hold": cmd.on},
        )
    return UserHold(user=user.id, legal_hold=user.legal_hold, changed=changed)


# --- what the admin page shows --------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationRetention:
    """One conversation on the admin page: no message, no member names, only what retention needs."""

    id: int
    kind: str
    name: str | None  # None for direct conversations
    archived: bool
    members: int
    days: int | None
    effective_days: int
    legal_hold: bool


@dataclass(frozen=True)
class HeldUser:
    id: int
    username: str
    display_name: str
    active: bool


@dataclass(frozen=True)
class RetentionOverview:
    workspace_days: int
    conversations: list[ConversationRetention]
    held_users: list[HeldUser]
    has_more: bool  # more conversations after the last one listed (page on with ``after``)


async def retention_overview(
    session: AsyncSession, actor: Actor, *, workspace_days: int, after: int = 0, limit: int = 100
) -> RetentionOverview:
    """Conversations (by id, ``limit`` after ``after``) with their retention and hold, and the users on hold."""
    _require_admin(actor)
    c, mb = models.Conversation, models.Membership
    members = select(func.count()).where(mb.conversation_id == c.id).correlate(c).scalar_subquery()
    rows = (
        await session.execute(
            select(c.id, c.kind, c.name, c.archived, members, c.retention_days, c.legal_hold)
            .where(c.id > after)
            .order_by(c.id)
            .limit(limit + 1)
        )
    ).all()
    conversations = [
        ConversationRetention(
            id=int(cid),
            kind=kind,
            name=name,
            archived=archived,
            members=int(count),
            days=days,
            effective_days=effective_days(days, workspace_days),
            legal_hold=hold,
        )
        for cid, kind, name, archived, count, days, hold in rows[:limit]
    ]
    u = models.User
    held = (await session.scalars(select(u).where(u.legal_hold.is_(True)).order_by(u.username))).all()
    return RetentionOverview(
        workspace_days=workspace_days,
        conversations=conversations,
        held_users=[HeldUser(h.id, h.username, h.display_name, h.active) for h in held],
        has_more=len(rows) > limit,
    )


async def find_users(session: AsyncSession, actor: Actor, text: str, *, limit: int = 20) -> list[HeldUser]:
    """Users whose username or display name contains ``text`` (case-insensitive), to place a hold on."""
    _require_admin(actor)
    u = models.User
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = (
        await session.scalars(
            select(u)
            .where(
                (func.lower(u.username).like(pattern, escape="\\"))
                | (func.lower(u.display_name).like(pattern, escape="\\")),
                u.erased_at.is_(None),
            )
            .order_by(u.username)
            .limit(limit)
        )
    ).all()
    return [HeldUser(f.id, f.username, f.display_name, f.active) for f in found]

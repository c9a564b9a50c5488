"""Invitation codes: a member, or a guest who joins only the conversations named in it.

The code (``secrets.token_urlsafe(24)``) is shown once to its creator; only its
SHA-256 is stored. A code is single-use and expires (``expires_in_days``). It
is redeemed at registration (``invite``); it works only while its creator may
still create such an invitation (``policy.can_create_invitation`` under the
current registration mode) and is active. The new user is added to each named
conversation the creator can still add people to (``policy.require("invite")``;
deleted, archived or left ones are skipped).
Event: ``invitation.created`` (audience ``staff``; never the code or the email).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.commands import CreateInvitation
from chat.accounts.results import InvitationCreated
from chat.accounts.users import actor_of
from chat.channels import policy
from chat.channels.conversations import invite_member
from chat.channels.policy import access_conversation, require
from chat.config import InvitePolicy, RegistrationMode
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Forbidden, NotFound
from chat.store import models


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invalid_invitation() -> Forbidden:
    return Forbidden("invalid_invitation", "the invitation code is unknown, used or expired")


async def create_invitation(
    session: AsyncSession,
    actor: Actor,
    cmd: CreateInvitation,
    *,
    mode: RegistrationMode,
    invite_policy: InvitePolicy = "members",
) -> InvitationCreated:
    """403 ``cannot_invite``; 404 ``conversation_not_found`` for a missing or invisible conversation;
    403 ``not_allowed`` / ``conversation_archived`` where the actor may not add people (direct conversations)."""
    if not policy.can_create_invitation(actor, cmd.role, mode):
        raise Forbidden("cannot_invite", f"you may not create {cmd.role} invitations")
    for conversation_id in sorted(cmd.conversation_ids):
        found = await access_conversation(session, actor, conversation_id)
        require("invite", actor, found.facts(actor, invite_policy=invite_policy))
    code = secrets.token_urlsafe(24)
    now = models.utcnow()
    row = models.Invitation(
        code_hash=code_hash(code),
        created_by=actor.id,
        role=cmd.role,
        conversation_ids=list(cmd.conversation_ids),
        email=cmd.email,
        created_at=now,
        expires_at=now + timedelta(days=cmd.expires_in_days),
    )
    session.add(row)
    await session.flush()
    await append_event(
        session,
        kind="invitation.created",
        actor_id=actor.id,
        subject_id=actor.id,
        audience="staff",
        data={
            "invitation_id": row.id,
            "role": row.role,
            "conversation_ids": list(row.conversation_ids),
            "expires_at": row.expires_at.isoformat(),
        },
    )
    return InvitationCreated(
        id=row.id,
        role=row.role,
        conversation_ids=list(row.conversation_ids),
        email=row.email,
        expires_at=row.expires_at,
        code=code,
    )


async def redeem_invitation(
    session: AsyncSession, code: str, *, mode: RegistrationMode
) -> tuple[models.Invitation, Actor]:
    """Lock a valid invitation for registration and return it with its creator (403 ``invalid_invitation``)."""
    row = await session.scalar(
        select(models.Invitation).where(models.Invitation.code_hash == code_hash(code)).with_for_update()
    )
    if row is None or row.used_by is not None or row.expires_at <= models.utcnow():
        raise invalid_invitation()
    creator = await session.get(models.User, row.created_by)
    if creator is None or not creator.active:
        raise invalid_invitation()
    inviter = actor_of(creator)
    if row.role not in ("member", "guest") or not policy.can_create_invitation(inviter, row.role, mode):  # type: ignore[arg-type]
        raise invalid_invitation()
    return row, inviter


async def lock_invited_conversations(session: AsyncSession, invitation: models.Invitation) -> None:
    """Lock the invitation's conversations (id order) before any event is appended, like every
    conversation action does: conversation rows first, then the event lock."""
    ids = sorted(invitation.conversation_ids or ())
    if ids:
        await session.execute(
            select(models.Conversation.id)
            .where(models.Conversation.id.in_(ids))
            .order_by(models.Conversation.id)
            .with_for_update()
        )


async def use_invitation(
    session: AsyncSession,
    invitation: models.Invitation,
    inviter: Actor,
    user: models.User,
    *,
    invite_policy: InvitePolicy = "members",
) -> list[int]:
    """Mark the invitation used by ``user`` and add them to its conversations; returns the joined ids.

    Each addition is the conversations module's ``invite_member`` by the
    inviter (one ``member.invited`` event, policy checked again); a
    conversation the inviter can no longer add people to is skipped.
    """
    invitation.used_by = user.id
    invitation.used_at = models.utcnow()
    await session.flush()
    joined: list[int] = []
    for conversation_id in sorted(invitation.conversation_ids or ()):
        try:
            await invite_member(session, inviter, conversation_id, user.id, invite_policy=invite_policy)
        except (NotFound, Forbidden):
            continue  # checked before any write: nothing to undo
        joined.append(conversation_id)
    return joined

"""Invitation codes: a member, or a guest who joins only the conversations named in it.

The code (``secrets.token_urlsafe(24)``) is shown once to its creator, with the
registration link that carries it (``/register?invite=CODE``); only its SHA-256
is stored, so a listing never shows it again. An invitation expires
(``expires_in_days``) and is single-use unless its creator made a reusable link
(``single_use=False``: any number of accounts until it expires or is revoked;
``use_count`` counts them). Its creator or an admin revokes it (``revoked_at``).

It is redeemed at registration (``invite``): refused (403 ``invalid_invitation``,
the same answer whatever the reason, so codes cannot be probed) when unknown,
revoked, expired, used up, or when its creator is no longer active or may no
longer create such an invitation (``policy.can_create_invitation`` under the
current registration mode). The new user is added to each named conversation
the creator can still add people to (``policy.require("invite")``; deleted,
archived or left ones are skipped).

Events (``system`` chain, audience ``staff``; never the code or the email):
``invitation.created``, ``invitation.revoked``, ``invitation.used``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.commands import CreateInvitation
from chat.accounts.results import InvitationCreated, InvitationInfo, InvitationList
from chat.accounts.users import MAX_ID, actor_of
from chat.channels import policy
from chat.channels.conversations import invite_member
from chat.channels.policy import access_conversation, require
from chat.config import InvitePolicy, RegistrationMode
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Forbidden, NotFound
from chat.store import models

REGISTER_PATH = "/register"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invitation_link(code: str) -> str:
    """The registration page with ``code`` filled in (a path: the web layer adds the origin)."""
    return f"{REGISTER_PATH}?invite={quote(code, safe='')}"


def invalid_invitation() -> Forbidden:
    return Forbidden("invalid_invitation", "the invitation code is unknown, used, revoked or expired")


def invitation_not_found() -> NotFound:
    return NotFound("invitation_not_found", "no such invitation")


def status_of(row: models.Invitation, now: datetime) -> str:
    """``revoked``, ``used`` (a single-use invitation that was), ``expired`` or ``active``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.single_use and (row.use_count > 0 or row.used_by is not None):
        return "used"
    if row.expires_at <= now:
        return "expired"
    return "active"


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
        single_use=cmd.single_use,
        use_count=0,
    )
    session.add(row)
    await session.flush()
    await _log(
        session,
        "invitation.created",
        actor.id,
        row,
        role=row.role,
        conversation_ids=list(row.conversation_ids),
        expires_at=row.expires_at.isoformat(),
        single_use=row.single_use,
    )
    return InvitationCreated(
        id=row.id,
        role=row.role,
        conversation_ids=list(row.conversation_ids),
        email=row.email,
        expires_at=row.expires_at,
        single_use=row.single_use,
        code=code,
        link=invitation_link(code),
    )


async def list_invitations(session: AsyncSession, actor: Actor) -> InvitationList:
    """Admins: every invitation; anyone else: the ones they created. Newest first, without codes."""
    query = (
        select(models.Invitation, models.User.username)
        .join(models.User, models.User.id == models.Invitation.created_by)
        .order_by(models.Invitation.id.desc())
    )
    if not policy.can_see_all_invitations(actor):
        query = query.where(models.Invitation.created_by == actor.id)
    now = models.utcnow()
    rows = (await session.execute(query)).all()
    return InvitationList(invitations=[_info(row, creator, now) for row, creator in rows])


async def revoke_invitation(session: AsyncSession, actor: Actor, invitation_id: int) -> InvitationInfo:
    """Revoke an invitation (its creator or an admin): it can no longer be used.

    404 ``invitation_not_found`` for an unknown id and for someone else's invitation
    (non-admins); revoking a revoked invitation changes nothing and writes no event."""
    if not 0 < invitation_id <= MAX_ID:
        raise invitation_not_found()
    row = await session.get(models.Invitation, invitation_id, with_for_update=True, populate_existing=True)
    if row is None or not policy.can_revoke_invitation(actor, is_creator=row.created_by == actor.id):
        raise invitation_not_found()
    if row.revoked_at is None:
        row.revoked_at = models.utcnow()
        await session.flush()
        await _log(session, "invitation.revoked", actor.id, row, created_by=row.created_by)
    creator = await session.scalar(select(models.User.username).where(models.User.id == row.created_by))
    return _info(row, creator or "", models.utcnow())


async def redeem_invitation(
    session: AsyncSession, code: str, *, mode: RegistrationMode
) -> tuple[models.Invitation, Actor]:
    """Lock a valid invitation for registration and return it with its creator (403 ``invalid_invitation``)."""
    row = await session.scalar(
        select(models.Invitation).where(models.Invitation.code_hash == code_hash(code)).with_for_update()
    )
    if row is None or status_of(row, models.utcnow()) != "active":
        raise invalid_invitation()
    creator = await session.get(models.User, row.created_by)
    if creator is None or not creator.active:
        raise invalid_invitation()
    inviter = actor_of(creator)
    if row.role not in ("member", "guest") or not policy.can_create_invitation(inviter, row.role, mode):  # type: ignore[arg-type]
        raise invalid_invitation()
    return row, inviter


async def lock_conversations(session: AsyncSession, ids: list[int]) -> None:
    """Lock conversation rows (id order) before any event is appended, like every conversation
    action does: conversation rows first, then the event lock."""
    if ids:
        await session.execute(
            select(models.Conversation.id)
            .where(models.Conversation.id.in_(sorted(ids)))
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
    """Count a use of the invitation by ``user`` (``invitation.used``) and add them to its
    conversations; returns the joined ids.

    Each addition is the conversations module's ``invite_member`` by the
    inviter (one ``member.invited`` event, policy checked again); a
    conversation the inviter can no longer add people to is skipped.
    """
    invitation.used_by = user.id
    invitation.used_at = models.utcnow()
    invitation.use_count = (invitation.use_count or 0) + 1
    await session.flush()
    await _log(session, "invitation.used", user.id, invitation, user_id=user.id, use_count=invitation.use_count)
    joined: list[int] = []
    for conversation_id in sorted(invitation.conversation_ids or ()):
        try:
            await invite_member(session, inviter, conversation_id, user.id, invite_policy=invite_policy)
        except (NotFound, Forbidden):
            continue  # checked before any write: nothing to undo
        joined.append(conversation_id)
    return joined


async def _log(session: AsyncSession, kind: str, actor_id: int, row: models.Invitation, **data: object) -> None:
    await append_event(
        session,
        kind=kind,
        actor_id=actor_id,
        subject_id=actor_id,
        audience="staff",
        data={"invitation_id": row.id, **data},
    )


def _info(row: models.Invitation, creator: str, now: datetime) -> InvitationInfo:
    return InvitationInfo(
        id=row.id,
        role=row.role,
        conversation_ids=list(row.conversation_ids or ()),
        email=row.email,
        created_by=row.created_by,
        created_by_username=creator,
        created_at=row.created_at,
        expires_at=row.expires_at,
        single_use=row.single_use,
        use_count=row.use_count or 0,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
        status=status_of(row, now),
    )

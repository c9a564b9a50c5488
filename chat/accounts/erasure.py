"""An admin erases a user's personal data (``POST /api/v1/users/{id}/erase``, GDPR article 17).

Three steps, each its own write transaction, so a user with a hundred thousand
messages never holds the SQLite writer for long:

1. **Close the account**: checks (an admin, not themselves, not the last admin, the user
   not on legal hold, not erased already), then the account is deactivated, every
   session deleted and every token revoked: ``user.deactivated`` closes their sockets.
2. **Erase the bodies** of every message they wrote, ``batch_size`` per transaction, with
   the very redaction retention uses (``chat.channels.retention.redact_messages``: text,
   revisions and event bodies; the chains still verify). Messages in a conversation under
   legal hold keep their text (the hold is the legal obligation that prevails; the answer
   counts them in ``messages_kept``).
3. **Pseudonymise**: one ``messages.redacted`` event (``{"author", "count", "reason"}``) in
   each conversation where bodies were erased, so open pages reload them; every membership
   removed (one ``member.removed`` event per conversation, as when an admin removes
   someone), username ``erased-<id>``, display name
   "Former user", e-mail, password hash, preferences and notification settings cleared, topic
   states, read markers, push devices, pending mails and address confirmations deleted, the
   e-mail of invitations they registered with cleared, ``erased_at``
   set; ``user.updated`` (the new name, to everyone) and ``user.erased`` (the counts,
   audience ``staff``) on the system chain.

The legal hold is read again in every transaction: a hold placed during an erasure stops
it (``user_on_legal_hold``) with the account closed and some bodies erased; lifting the
hold and asking again finishes it (an account closed by step 1 but not yet erased may be
erased again). What remains is said in docs/gdpr.md: ids, and the names in signed audit
records, which the hash chains cover and which cannot change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.users import ERASED_PREFIX
from chat.channels import policy
from chat.channels.names import confusable_key
from chat.channels.queries import member_ids
from chat.channels.retention import BATCH_SIZE, redact_messages
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Conflict, Forbidden, NotFound
from chat.store import models

FORMER_USER = "Former user"


@dataclass(frozen=True)
class ErasureResult:
    user: int
    username: str  # the pseudonym
    messages_redacted: int
    messages_kept: int  # in conversations under legal hold
    memberships_removed: int
    sessions_ended: int
    tokens_revoked: int


@dataclass
class _Progress:
    sessions_ended: int = 0
    tokens_revoked: int = 0
    messages_redacted: int = 0


Write = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Awaitable[Any]]


async def erase_user(
    write: Write, actor: Actor, user_id: int, *, now: datetime, batch_size: int = BATCH_SIZE
) -> ErasureResult:
    """Erase ``user_id``'s personal data (see the module docstring); ``write`` is ``db.write``."""
    progress = _Progress()

    async def close_account(session: AsyncSession) -> None:
        user = await _checked(session, actor, user_id)
        ended = await session.execute(delete(models.WebSession).where(models.WebSession.user_id == user.id))
        progress.sessions_ended = int(getattr(ended, "rowcount", 0) or 0)
        t = models.ApiToken
        revoked = await session.execute(
            update(t).where(t.user_id == user.id, t.revoked_at.is_(None)).values(revoked_at=now)
        )
        progress.tokens_revoked = int(getattr(revoked, "rowcount", 0) or 0)
        if user.active:
            user.active = False
            await session.flush()
            await append_event(
                session,
                kind="user.deactivated",
                actor_id=actor.id,
                subject_id=user.id,
                audience="everyone",
                data={"user_id": user.id, "reason": "erasure"},
            )

    async def erase_batch(session: AsyncSession) -> int:
        await _checked(session, actor, user_id)
        m, c = models.Message, models.Conversation
        held = select(c.id).where(c.legal_hold.is_(True))
        ids = (
            await session.scalars(
                select(m.id)
                .where(m.author_id == user_id, m.redacted_at.is_(None), m.conversation_id.not_in(held))
                .order_by(m.id)
                .limit(batch_size)
            )
        ).all()
        return await redact_messages(session, list(ids), now)

    async def pseudonymise(session: AsyncSession) -> ErasureResult:
        user = await _checked(session, actor, user_id)
        await _announce_redactions(session, actor, user.id, now)
        removed = await _remove_memberships(session, actor, user.id)
        m, c = models.Message, models.Conversation
        kept = await session.scalar(
            select(func.count())
            .select_from(m)
            .join(c, c.id == m.conversation_id)
            .where(m.author_id == user.id, m.redacted_at.is_(None), c.legal_hold.is_(True))
        )
        for model in (
            models.TopicState,
            models.ReadMarker,
            models.PushSubscription,
            models.EmailConfirmation,
            models.PendingNotification,
            models.DigestLog,
        ):
            await session.execute(delete(model).where(model.user_id == user.id))
        await session.execute(update(models.Invitation).where(models.Invitation.used_by == user.id).values(email=None))
        pseudonym = f"{ERASED_PREFIX}{user.id}"
        user.username, user.display_name = pseudonym, FORMER_USER
        user.username_skeleton, user.display_skeleton = confusable_key(pseudonym), confusable_key(FORMER_USER)
        user.email = user.email_key = user.email_verified_at = user.password_hash = None
        user.preferences = {}
        user.notification_settings = {}
        user.muted_until = None
        user.erased_at = now
        await session.flush()
        await append_event(
            session,
            kind="user.updated",
            actor_id=actor.id,
            subject_id=user.id,
            audience="everyone",
            data={"user_id": user.id, "display_name": FORMER_USER, "username": pseudonym},
        )
        result = ErasureResult(
            user=user.id,
            username=pseudonym,
            messages_redacted=progress.messages_redacted,
            messages_kept=int(kept or 0),
            memberships_removed=removed,
            sessions_ended=progress.sessions_ended,
            tokens_revoked=progress.tokens_revoked,
        )
        await append_event(
            session,
            kind="user.erased",
            actor_id=actor.id,
            subject_id=user.id,
            audience="admins",
            data={k: v for k, v in result.__dict__.items() if k != "username"},
        )
        return result

    await write(close_account)
    while True:
        erased = await write(erase_batch)
        progress.messages_redacted += erased
        if erased < batch_size:
            break
    result: ErasureResult = await write(pseudonymise)
    return result


async def _checked(session: AsyncSession, actor: Actor, user_id: int) -> models.User:
    """The user to erase, locked, once every refusal has been ruled out."""
    if not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may erase users")
    if not policy.can_erase_user(actor, target_is_self=user_id == actor.id):
        raise Forbidden("cannot_erase_self", "another administrator must erase your account")
    user = None
    if 0 < user_id < 2**63:
        user = await session.get(models.User, user_id, with_for_update=True, populate_existing=True)
    if user is None:
        raise NotFound("user_not_found", "no such user")
    if user.erased_at is not None:
        raise Conflict("already_erased", "this user's personal data was erased already")
    if user.legal_hold:
        raise Conflict("user_on_legal_hold", "this user is under legal hold: lift the hold before erasing")
    if user.role == "admin" and user.active and not user.is_bot:
        u = models.User
        others = await session.scalar(
            select(func.count()).where(u.role == "admin", u.active.is_(True), u.is_bot.is_(False), u.id != user.id)
        )
        if not others:
            raise Conflict("last_admin", "this is the last active administrator; appoint another first")
    return user


async def _announce_redactions(session: AsyncSession, actor: Actor, user_id: int, now: datetime) -> None:
    """One ``messages.redacted`` event per conversation where this erasure erased messages (``{"author",
    "count"}``), so open pages reload them: the erasure's own batches wrote no event."""
    m = models.Message
    rows = await session.execute(
        select(m.conversation_id, func.count())
        .where(m.author_id == user_id, m.redacted_at == now)
        .group_by(m.conversation_id)
        .order_by(m.conversation_id)
    )
    for conversation_id, count in rows.all():
        await append_event(
            session,
            kind="messages.redacted",
            actor_id=actor.id,
            conversation_id=int(conversation_id),
            data={"author": user_id, "count": int(count), "reason": "erasure"},
        )


async def _remove_memberships(session: AsyncSession, actor: Actor, user_id: int) -> int:
    """Take the user out of every conversation: one ``member.removed`` per conversation."""
    mb = models.Membership
    conversations = (await session.scalars(select(mb.conversation_id).where(mb.user_id == user_id))).all()
    for conversation_id in sorted(conversations):
        await session.execute(delete(mb).where(mb.conversation_id == conversation_id, mb.user_id == user_id))
        members = await member_ids(session, conversation_id)
        await append_event(
            session,
            kind="member.removed",
            actor_id=actor.id,
            conversation_id=conversation_id,
            data={"user": user_id, "reason": "erasure"},
            subject_id=user_id,
            members=members,
        )
    return len(conversations)

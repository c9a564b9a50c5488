"""Verified e-mail addresses: request a confirmation, confirm it, remove the address.

An account has at most one address, and Salon mails only an address someone
proved: ``users.email`` with ``email_verified_at`` set (a legacy address copied
from an invitation, ``email_verified_at`` NULL, is shown but never mailed).
``email_key`` is the verified address in lower case, unique among verified
accounts: two accounts never prove the same mailbox.

An address being proved lives only in ``email_confirmations`` until its link is
used: :func:`request_confirmation` (the user, or an admin for them) stores the
SHA-256 of a random secret that expires in :data:`CONFIRMATION_TTL`; earlier
unused links of the user stop working. The caller mails the secret after commit
(``chat.web.api.email``) and, if the relay refuses it, calls
:func:`cancel_confirmation` so nothing is left half-done. :func:`confirm` uses a
link once: unknown or already used, 404 ``confirmation_not_found``; expired,
410 ``confirmation_expired``; an address another account proved meanwhile, 409
``email_taken``.

Events (system chain): ``user.email_verified`` and ``user.email_removed``,
audience ``subject`` (the user's own tabs), and ``user.email_requested`` when an
admin sends a confirmation for someone else (audience ``admins``: the audit log
shows who asked). No event ever carries a token.

Accounts registered by e-mail domain (registration mode ``domains``) carry
``preferences["email_required"]`` until their address is confirmed: they may not
sign in before (:func:`check_may_sign_in`, 403 ``email_unverified``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.users import get_user
from chat.channels import policy
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import ChatError, Conflict, Forbidden, Invalid, NotFound
from chat.store import models

CONFIRMATION_TTL = timedelta(hours=48)
MAX_ADDRESS = 254
EMAIL_REQUIRED = "email_required"  # the preferences key of an account that must prove its address first
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


class Gone(ChatError):
    status = 410
    default_code = "gone"


@dataclass(frozen=True)
class EmailStatus:
    """``GET /api/v1/me/email``: the verified address, and the one waiting for its link."""

    email: str | None
    verified: bool
    pending: str | None


@dataclass(frozen=True)
class PendingConfirmation:
    """A confirmation just stored; ``token`` goes into the mail and nowhere else."""

    user_id: int
    email: str
    token: str
    token_hash: str
    expires_at: datetime


@dataclass(frozen=True)
class EmailConfirmed:
    user_id: int
    email: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_address(raw: str, field: str = "email") -> str:
    """An address as stored: trimmed, the domain in lower case; 422 ``invalid_email`` otherwise.

    One ``@``; a local part of at most 64 plain characters (no quoting, no spaces or controls);
    a domain name with a dot; at most 254 characters in all.
    """
    address = raw.strip()
    bad = Invalid("invalid_email", "that is not an e-mail address (name@example.com)", field=field)
    if not address or len(address) > MAX_ADDRESS or address.count("@") != 1:
        raise bad
    local, domain = address.split("@")
    domain = domain.lower()
    if not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise bad
    if not _DOMAIN.fullmatch(domain):
        raise bad
    return f"{local}@{domain}"


def address_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def in_domains(address: str, domains: tuple[str, ...] | list[str]) -> bool:
    """Whether ``address`` is at one of ``domains`` (exactly: a subdomain is another domain)."""
    return address_domain(address) in {d.lower() for d in domains}


def _require_self_or_admin(actor: Actor, user_id: int) -> None:
    if actor.id != user_id and not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may change another user's e-mail address")


async def _pending(session: AsyncSession, user_id: int) -> models.EmailConfirmation | None:
    return await session.scalar(
        select(models.EmailConfirmation)
        .where(
            models.EmailConfirmation.user_id == user_id,
            models.EmailConfirmation.used_at.is_(None),
            models.EmailConfirmation.expires_at > models.utcnow(),
        )
        .order_by(models.EmailConfirmation.created_at.desc())
        .limit(1)
    )


def is_verified(user: models.User) -> bool:
    return user.email is not None and user.email_verified_at is not None


async def get_email(session: AsyncSession, actor: Actor) -> EmailStatus:
    """Your address (verified or not) and the address waiting for its link, if any."""
    user = await get_user(session, actor.id)
    pending = await _pending(session, user.id)
    return EmailStatus(email=user.email, verified=is_verified(user), pending=pending.email if pending else None)


async def email_statuses(session: AsyncSession, actor: Actor, user_ids: list[int]) -> dict[int, EmailStatus]:
    """Admin: the e-mail status of these users (for the users page)."""
    if not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may see other users' addresses")
    if not user_ids:
        return {}
    rows = (
        await session.execute(
            select(models.User.id, models.User.email, models.User.email_verified_at).where(models.User.id.in_(user_ids))
        )
    ).all()
    now = models.utcnow()
    waiting = (
        await session.execute(
            select(models.EmailConfirmation.user_id, models.EmailConfirmation.email)
            .where(
                models.EmailConfirmation.user_id.in_(user_ids),
                models.EmailConfirmation.used_at.is_(None),
                models.EmailConfirmation.expires_at > now,
            )
            .order_by(models.EmailConfirmation.created_at)
        )
    ).all()
    pending = {uid: email for uid, email in waiting}
    return {
        uid: EmailStatus(email=email, verified=email is not None and at is not None, pending=pending.get(uid))
        for uid, email, at in rows
    }


async def request_confirmation(session: AsyncSession, actor: Actor, user_id: int, address: str) -> PendingConfirmation:
    """Store a confirmation link for ``address`` (the user themself, or an admin for them).

    Earlier unused links of the user stop working. 403 ``admin_required`` for someone else's
    account, 403 ``not_allowed`` for a bot, 422 ``invalid_email``, 409 ``email_taken`` (another
    account proved it), 409 ``email_unchanged`` (it is already this account's verified address).
    """
    _require_self_or_admin(actor, user_id)
    address = normalize_address(address)
    user = await get_user(session, user_id, for_update=True)
    if user.is_bot:
        raise Forbidden("not_allowed", "bots have no e-mail address")
    key = address.lower()
    if is_verified(user) and user.email_key == key:
        raise Conflict("email_unchanged", "this address is already verified", field="email")
    await _check_not_taken(session, key, user.id)
    await session.execute(
        delete(models.EmailConfirmation).where(
            models.EmailConfirmation.user_id == user.id, models.EmailConfirmation.used_at.is_(None)
        )
    )
    token = secrets.token_urlsafe(32)
    now = models.utcnow()
    row = models.EmailConfirmation(
        token_hash=token_hash(token), user_id=user.id, email=address, created_at=now, expires_at=now + CONFIRMATION_TTL
    )
    session.add(row)
    await session.flush()
    if actor.id != user.id:
        await append_event(
            session,
            kind="user.email_requested",
            actor_id=actor.id,
            subject_id=user.id,
            audience="admins",
            data={"user_id": user.id, "email": address},
        )
    return PendingConfirmation(user.id, address, token, row.token_hash, row.expires_at)


async def cancel_confirmation(session: AsyncSession, hashed: str) -> None:
    """Forget a confirmation whose mail could not be sent (its link was never delivered)."""
    await session.execute(delete(models.EmailConfirmation).where(models.EmailConfirmation.token_hash == hashed))


async def peek_confirmation(session: AsyncSession, token: str) -> models.EmailConfirmation:
    """The confirmation behind a link, unused and not expired, without using it (the page shows its address)."""
    row = await session.get(models.EmailConfirmation, token_hash(token)) if 0 < len(token) <= 128 else None
    if row is None or row.used_at is not None:
        raise NotFound("confirmation_not_found", "this confirmation link is unknown or was already used")
    if row.expires_at <= models.utcnow():
        raise Gone("confirmation_expired", "this confirmation link has expired; ask for a new one")
    return row


async def confirm(session: AsyncSession, token: str) -> EmailConfirmed:
    """Use a confirmation link: its address becomes the account's verified address.

    Needs no session (the link may be opened in another browser) and signs nobody in.
    """
    row = await peek_confirmation(session, token)
    user = await get_user(session, row.user_id, for_update=True)
    key = row.email.lower()
    await _check_not_taken(session, key, user.id)
    previous = user.email if is_verified(user) else None
    user.email, user.email_key, user.email_verified_at = row.email, key, models.utcnow()
    user.preferences = {k: v for k, v in (user.preferences or {}).items() if k != EMAIL_REQUIRED}
    row.used_at = models.utcnow()
    try:
        async with session.begin_nested():  # a concurrent confirmation of the same address loses here
            await session.flush()
    except IntegrityError:
        raise Conflict("email_taken", "another account has verified this address", field="email") from None
    await session.execute(
        delete(models.EmailConfirmation).where(
            models.EmailConfirmation.user_id == user.id, models.EmailConfirmation.used_at.is_(None)
        )
    )
    await append_event(
        session,
        kind="user.email_verified",
        actor_id=user.id,
        subject_id=user.id,
        audience="subject",
        data={"user_id": user.id, "email": row.email, "previous": previous},
    )
    return EmailConfirmed(user.id, row.email)


async def remove_email(session: AsyncSession, actor: Actor, user_id: int) -> bool:
    """Remove the address (verified or not) and any pending link; False if there was nothing to remove."""
    _require_self_or_admin(actor, user_id)
    user = await get_user(session, user_id, for_update=True)
    result = await session.execute(
        delete(models.EmailConfirmation).where(
            models.EmailConfirmation.user_id == user.id, models.EmailConfirmation.used_at.is_(None)
        )
    )
    had_pending = bool(getattr(result, "rowcount", 0))
    if user.email is None:
        return had_pending
    removed = user.email
    user.email = user.email_key = user.email_verified_at = None
    await session.flush()
    await append_event(
        session,
        kind="user.email_removed",
        actor_id=actor.id,
        subject_id=user.id,
        audience="subject",
        data={"user_id": user.id, "email": removed},
    )
    return True


async def check_may_sign_in(session: AsyncSession, user_id: int) -> None:
    """403 ``email_unverified`` for an account registered by e-mail domain whose address is not proved yet."""
    user = await get_user(session, user_id)
    if (user.preferences or {}).get(EMAIL_REQUIRED) and not is_verified(user):
        raise Forbidden(
            "email_unverified", "confirm your e-mail address first: open the link we mailed you", field="email"
        )


async def verified_address(session: AsyncSession, user_id: int) -> str | None:
    """The address Salon may mail for this user: only a verified one (None otherwise)."""
    user = await get_user(session, user_id)
    return user.email if is_verified(user) else None


async def _check_not_taken(session: AsyncSession, key: str, user_id: int) -> None:
    other = await session.scalar(
        select(models.User.id).where(models.User.email_key == key, models.User.id != user_id).limit(1)
    )
    if other is not None:
        raise Conflict("email_taken", "another account has verified this address", field="email")

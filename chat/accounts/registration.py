"""Self-registration (``POST /api/v1/users``) under the registration mode.

Decision (setting ``registration_mode``):

* The first account ever becomes ``admin``, whatever the mode. On a server that
  others can reach (the caller passes ``setup_token``), only the holder of the
  one-time setup token ``chat serve`` printed may create it: 403
  ``setup_token_required`` without one, 403 ``invalid_setup_token`` with a wrong
  one. The token is good for the first account only, so it is single-use by
  construction; ``chat create-admin`` needs none. On loopback the first visitor
  sets the server up (``setup_token=None``).
* ``invite`` (the default, as Zulip and Mattermost ship): a valid invitation
  code is required (created by staff).
* ``open``: anyone may register and becomes a ``member``; an invitation code
  is optional (a guest invitation still makes a guest of its conversations).
* ``closed``: no self-registration at all, except the first account and the
  holders of an invitation code created by an admin.
* ``domains``: anyone whose ``email`` is at one of the allowed domains may register
  without an invitation (an invitation still works as in ``invite``). The address
  must then be proved (``chat.accounts.emails``): the account may not sign in
  until its confirmation link is used (403 ``email_unverified`` at login). The mode
  needs a mail relay (``CHAT_SMTP_URL``): ``chat.config`` and the settings API refuse it without.

Any registration may give an ``email``: it is stored only as a pending confirmation
(:func:`register_with_email`), which the web layer mails after commit.

The caller passes the mode in force (``chat.store.workspace.load``: an admin
changes it at run time). An invitation (``chat.accounts.invitations``) expires,
may be revoked, is single-use unless it is a reusable link, and is honoured
only while its creator is active and may still create it under the current
mode (see ``policy.can_create_invitation``). A registration with a code takes
the invitation's role and is added to its conversations (one ``member.invited``
event each, by the inviter). Every new account that is not a guest then joins
each public, not archived conversation marked ``is_default`` (one
``member.joined`` event each, as if they had joined themselves). Errors: the two setup-token errors above,
403 ``invitation_required`` (``invite`` mode, no code), 403 ``registration_closed``,
403 ``invalid_invitation``, 403 ``email_domain_not_allowed`` (``domains``: no invitation and an
address at another domain), 409 ``username_taken``, 409 ``email_taken``, 422 for bad fields.
No password is hashed before those checks pass.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.commands import Register
from chat.accounts.emails import (
    EMAIL_REQUIRED,
    PendingConfirmation,
    in_domains,
    normalize_address,
    request_confirmation,
)
from chat.accounts.invitations import lock_conversations, redeem_invitation, use_invitation
from chat.accounts.results import UserInfo
from chat.accounts.users import actor_of, create_user, get_user
from chat.channels import policy
from chat.channels.conversations import join_conversation
from chat.config import InvitePolicy, RegistrationMode
from chat.domain.actors import Role
from chat.errors import Forbidden
from chat.store import models
from chat.validation import limits

_REGISTER_LOCK_KEY = 0x5A11  # pg_advisory_xact_lock: one registration at a time decides "first account"


@dataclass(frozen=True)
class RegisterRequest(Register):
    """``POST /api/v1/users``: a registration, with an optional e-mail address to prove."""

    email: str | None = field(default=None, metadata=limits(max_len=254, description="an address to confirm"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.email is not None:
            object.__setattr__(self, "email", normalize_address(self.email))


@dataclass(frozen=True)
class RegisteredWithEmail(UserInfo):
    """``POST /api/v1/users`` with an ``email``: the account, the address to confirm, and whether the link
    was mailed (registration does not fail when the relay does: the user retries from the settings)."""

    email_pending: str
    confirmation_sent: bool


@dataclass(frozen=True)
class Registered:
    """A new account and, when an address was given, its confirmation to mail."""

    user: UserInfo
    confirmation: PendingConfirmation | None


async def register_with_email(
    session: AsyncSession,
    cmd: Register,
    *,
    mode: RegistrationMode,
    allowed_domains: tuple[str, ...] = (),
    invite_policy: InvitePolicy = "members",
    setup_token: str | None = None,
) -> Registered:
    """:func:`register`, then store the confirmation of ``cmd.email`` (if any) for the caller to mail."""
    user = await register(
        session, cmd, mode=mode, allowed_domains=allowed_domains, invite_policy=invite_policy, setup_token=setup_token
    )
    email = cmd.email if isinstance(cmd, RegisterRequest) else None
    if email is None:
        return Registered(user, None)
    newcomer = actor_of(await get_user(session, user.id))
    return Registered(user, await request_confirmation(session, newcomer, user.id, email))


async def register(
    session: AsyncSession,
    cmd: Register,
    *,
    mode: RegistrationMode,
    allowed_domains: tuple[str, ...] = (),
    invite_policy: InvitePolicy = "members",
    setup_token: str | None = None,
) -> UserInfo:
    """Create an account from a registration request; returns the new user.

    ``setup_token``: None lets the first visitor create the first account (a loopback server);
    a string makes the first account need ``cmd.setup_token`` equal to it ("": nobody can, the
    first account comes from ``chat create-admin``).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _REGISTER_LOCK_KEY})
    first = await session.scalar(select(models.User.id).limit(1)) is None
    if first and setup_token is not None:
        check_setup_token(cmd.setup_token, setup_token)
    invitation = inviter = None
    if cmd.invite is not None:
        invitation, inviter = await redeem_invitation(session, cmd.invite, mode=mode)
    email = cmd.email if isinstance(cmd, RegisterRequest) else None
    by_domain = mode == "domains" and invitation is None and not first
    if by_domain:  # the address is the credential: it must be at an allowed domain, and proved before login
        if email is None:
            raise Forbidden("invitation_required", "give your work e-mail address, or an invitation code")
        if not in_domains(email, allowed_domains):
            raise Forbidden("email_domain_not_allowed", "addresses at this domain may not register here", field="email")
    elif not policy.can_register(mode, first_account=first, has_invitation=invitation is not None):
        if mode == "closed":
            raise Forbidden("registration_closed", "registration is closed; ask an administrator for an invitation")
        raise Forbidden("invitation_required", "registration needs an invitation code")
    role: Role = "admin" if first else "member"
    if invitation is not None and not first:
        role = "guest" if invitation.role == "guest" else "member"
    defaults = await default_conversations(session) if role != "guest" else []
    # conversation rows first, then the event lock (create_user appends the first event)
    await lock_conversations(session, sorted({*defaults, *(invitation.conversation_ids if invitation else ())}))
    user = await create_user(
        session,
        username=cmd.username,
        password=cmd.password,
        role=role,
        display_name=cmd.display_name,
        email=invitation.email if invitation is not None else None,
        event_data={"invitation_id": invitation.id} if invitation is not None else None,
    )
    if by_domain:
        user.preferences = {**(user.preferences or {}), EMAIL_REQUIRED: True}
        await session.flush()
    if invitation is not None and inviter is not None:
        await use_invitation(session, invitation, inviter, user, invite_policy=invite_policy)
    newcomer = actor_of(user)
    for conversation_id in defaults:
        await join_conversation(session, newcomer, conversation_id)  # already in (invited): no event
    return UserInfo.of(user)


async def default_conversations(session: AsyncSession) -> list[int]:
    """The public, not archived conversations every new account that is not a guest joins."""
    rows = await session.scalars(
        select(models.Conversation.id)
        .where(
            models.Conversation.is_default.is_(True),
            models.Conversation.kind == "public",
            models.Conversation.archived.is_(False),
        )
        .order_by(models.Conversation.id)
    )
    return list(rows)


def check_setup_token(given: str | None, expected: str) -> None:
    """Refuse the first account unless ``given`` is the server's setup token (constant-time compare)."""
    if given is None:
        raise Forbidden(
            "setup_token_required",
            "the first account of this server needs the setup token printed by `chat serve` "
            "(or create it with `chat create-admin`)",
        )
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("invalid_setup_token", "that is not this server's setup token")

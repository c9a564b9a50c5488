"""Who an inbound mail is for, and who posts it: addresses checked against the database and the policy.

* :func:`resolve_recipient`: an address at ``CHAT_MAIL_DOMAIN`` names a reply address (signed,
  ``chat.mail.addresses``) or a channel address (a conversation's ``mail_token``). A forged
  signature, an unknown or revoked token, a deactivated user, a deleted message, a conversation
  the user can no longer see, an archived conversation: each refuses with its reason (SMTP 550
  at ``RCPT TO``, exit 67 from ``chat mail-ingest``).
* :func:`reply_poster`: the signed address is the capability; the ``From`` must also be the user's
  verified address (``users.email_key``), and, with ``CHAT_MAIL_TRUSTED_AUTHSERV_ID`` set, carry
  the MX's ``dmarc=pass`` for its domain. The envelope sender never identifies anyone.
* :func:`channel_poster`: the mail is *verified* only when the MX (``CHAT_MAIL_TRUSTED_AUTHSERV_ID``)
  recorded ``dmarc=pass`` for the ``From`` domain (``chat.mail.parse.dmarc_pass``); then a user
  with that verified address who may post there posts as themselves. Anything else is refused
  (saying the sender could not be verified) unless the conversation takes outside senders, when
  the sender posts as an **external guest**: one account per address (role ``guest``, no password,
  username ``mail-<hash>``, display name ``"<name> (<address>)"``, and
  ``preferences["external_mail"] = <address>``, the mark the UI shows), a member of that
  conversation only (added with a ``member.joined`` event of its own).

Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.users import actor_of, create_user
from chat.channels.policy import access_conversation, allowed
from chat.channels.queries import member_ids
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import ChatError, NotFound
from chat.mail.addresses import BadAddress, ChannelAddress, ReplyAddress, parse_local_part
from chat.mail.parse import MailRefused
from chat.store import models

EXTERNAL_MARK = "external_mail"  # users.preferences key of an external guest: the address it stands for
ANOTHER_ACCOUNT = "this reply address belongs to another account"
UNVERIFIED = "the sender of this mail could not be verified (no DMARC pass from this server's mail exchanger)"


@dataclass(frozen=True)
class ReplyTarget:
    user: models.User
    message: models.Message


@dataclass(frozen=True)
class ChannelTarget:
    conversation: models.Conversation


def refused(reason: str) -> MailRefused:
    return MailRefused(reason, "address")


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().strip("<>").rpartition("@")
    return local, domain.lower()


async def resolve_recipient(
    session: AsyncSession, key: bytes, domain: str, address: str
) -> ReplyTarget | ChannelTarget:
    local, at = split_address(address)
    if not domain or not local or at != domain:
        raise refused(f"this server takes mail for @{domain} only" if domain else "this server takes no mail")
    try:
        named = parse_local_part(key, local)
    except BadAddress as exc:
        raise refused(str(exc)) from None
    if isinstance(named, ReplyAddress):
        return await _reply_target(session, named)
    assert isinstance(named, ChannelAddress)  # noqa: S101 - parse_local_part returns one of the two
    conversation = await session.scalar(
        select(models.Conversation).where(models.Conversation.mail_token == named.token)
    )
    if conversation is None:
        raise refused("no such address here (it may have been revoked)")
    if conversation.archived:
        raise refused("this conversation is archived and takes no more mail")
    return ChannelTarget(conversation)


async def _reply_target(session: AsyncSession, named: ReplyAddress) -> ReplyTarget:
    user = await session.get(models.User, named.user_id)
    if user is None or not user.active:
        raise refused("the account this reply address belongs to is deactivated")
    message = await session.get(models.Message, named.message_id)
    if message is None or message.deleted_at is not None or message.redacted_at is not None:
        raise refused("the message this reply address answers was deleted")
    actor = actor_of(user)
    try:
        access = await access_conversation(session, actor, message.conversation_id)
    except NotFound:
        raise refused("you can no longer see the conversation of this reply address") from None
    if not allowed("post", actor, access.facts(actor)):
        raise refused("you may no longer post in the conversation of this reply address")
    return ReplyTarget(user, message)


def reply_poster(target: ReplyTarget, from_address: str, dmarc_ok: bool) -> Actor:
    """The user of a reply address, if the ``From`` is their verified address (and, when the MX is
    trusted, DMARC passed for it)."""
    if target.user.email_key is None or target.user.email_key != from_address:
        raise refused(ANOTHER_ACCOUNT)
    if not dmarc_ok:
        raise refused(UNVERIFIED + " for this reply")
    return actor_of(target.user)


async def channel_poster(
    session: AsyncSession,
    conversation: models.Conversation,
    verified: str | None,
    unverified: str,
    name: str,
    *,
    create: bool,
) -> Actor | None:
    """Who posts a mail to a channel address (see the module docstring): ``verified`` is the From
    address when DMARC passed for it, ``unverified`` the address the mail only claims (From, else the
    envelope sender). ``None`` when an external guest would post, with ``create=False`` (a check
    before anything is written)."""
    if verified:
        user = await session.scalar(select(models.User).where(models.User.email_key == verified))
        if user is not None:
            return await _member(session, user, conversation)
    address = verified or unverified
    if not conversation.mail_outside_senders or not address:
        if verified:
            raise refused("this address takes mail only from people who may post in its conversation")
        raise refused(UNVERIFIED + ", and this address takes mail only from people who may post in its conversation")
    guest = await session.scalar(select(models.User).where(models.User.username == guest_username(address)))
    if guest is not None and not guest.active:
        raise refused("this sender is blocked")
    if not create:
        return actor_of(guest) if guest is not None else None
    if guest is None:
        guest = await _create_guest(session, address, name)
    if await session.get(models.Membership, (conversation.id, guest.id)) is None:
        await _join(session, guest, conversation.id)
    return actor_of(guest)


async def _member(session: AsyncSession, user: models.User, conversation: models.Conversation) -> Actor:
    actor = actor_of(user)
    if not user.active:
        raise refused("the account of this sender is deactivated")
    try:
        access = await access_conversation(session, actor, conversation.id)
    except NotFound:
        access = None
    if access is None or not allowed("post", actor, access.facts(actor)):
        raise refused("you may not post in this conversation")
    return actor


def guest_username(address: str) -> str:
    return "mail-" + hashlib.sha256(address.encode()).hexdigest()[:16]


async def _create_guest(session: AsyncSession, address: str, name: str) -> models.User:
    shown = f"{name} ({address})" if name else address
    user = None
    for display_name in (shown[:80], address[:80], guest_username(address)):
        try:
            async with session.begin_nested():
                user = await create_user(
                    session,
                    username=guest_username(address),
                    password=secrets.token_urlsafe(32),  # hashed, never known, then dropped below
                    role="guest",
                    display_name=display_name,
                    event_data={EXTERNAL_MARK: address},
                )
        except ChatError:
            continue  # a display name that reads like someone else's: try the next
        break
    if user is None:
        raise refused("this sender cannot be given an account here")
    user.password_hash = None  # no password: the account only ever posts through mail
    user.preferences = {EXTERNAL_MARK: address}
    await session.flush()
    return user


async def _join(session: AsyncSession, guest: models.User, conversation_id: int) -> None:
    session.add(models.Membership(conversation_id=conversation_id, user_id=guest.id, joined_at=models.utcnow()))
    await session.flush()
    await append_event(
        session,
        kind="member.joined",
        actor_id=guest.id,
        conversation_id=conversation_id,
        data={"user": guest.id, "via": "mail"},
        subject_id=guest.id,
        members=await member_ids(session, conversation_id),
    )

"""A conversation's mail address ``c.<mail_token>@CHAT_MAIL_DOMAIN``: show, make, regenerate, revoke.

Who: whoever may manage the conversation (``policy``'s existing rename/archive question: staff
for public channels; a private group's owner and admins, member or not, via
``access_managed``) makes, regenerates and revokes the address and sets whether outside senders
may write to it; members read it. Direct conversations have none (``not_allowed``). Making or
changing one needs ``CHAT_MAIL_DOMAIN`` (409 ``mail_domain_unset``); an archived conversation
can still lose its address, not get one.

Regenerating draws a new token: the old address is refused from then on (``chat.mail.targets``).
Each change writes one ``conversation.mail_address_changed`` event (audience: the members) with
``{"enabled", "outside_senders", "regenerated"}``: never the address itself, which stays out of
the event log, its exports and every non-member's sight; clients fetch it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.policy import ConversationAccess, access_managed, allowed, require
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Conflict, Forbidden
from chat.mail.addresses import channel_address, new_channel_token
from chat.validation import Checked

EVENT = "conversation.mail_address_changed"


@dataclass(frozen=True)
class MailAddressOut:
    """A conversation's mail address (null: none) and whether people who are not users may write to it."""

    address: str | None
    outside_senders: bool
    can_manage: bool


@dataclass(frozen=True)
class SetOutsideSenders(Checked):
    """Whether mail from senders who are not users is taken (they post as external guests)."""

    outside_senders: bool


def _need_domain(domain: str) -> None:
    if not domain:
        raise Conflict("mail_domain_unset", "this server has no mail domain (CHAT_MAIL_DOMAIN)")


def _out(access: ConversationAccess, actor: Actor, domain: str) -> MailAddressOut:
    conversation = access.conversation
    token = conversation.mail_token
    return MailAddressOut(
        address=channel_address(token, domain) if token else None,
        outside_senders=conversation.mail_outside_senders,
        can_manage=allowed("archive", actor, access.facts(actor)),
    )


async def get_mail_address(session: AsyncSession, actor: Actor, conversation_id: int, domain: str) -> MailAddressOut:
    _need_domain(domain)
    access = await access_managed(session, actor, conversation_id)
    if not access.is_member and not allowed("archive", actor, access.facts(actor)):
        raise Forbidden("not_allowed", "only members see this conversation's mail address")
    return _out(access, actor, domain)


async def _change(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    domain: str,
    *,
    token: str | bool | None = False,  # False: unchanged
    outside_senders: bool | None = None,
) -> MailAddressOut:
    _need_domain(domain)
    access = await access_managed(session, actor, conversation_id)
    # making or changing an address is a change like a rename (not while archived); revoking is not
    require("archive" if token is None else "rename", actor, access.facts(actor))
    conversation = access.conversation
    old = (conversation.mail_token, conversation.mail_outside_senders)
    if token is not False:
        conversation.mail_token = token if isinstance(token, str) else None
    if outside_senders is not None:
        conversation.mail_outside_senders = outside_senders
    if (conversation.mail_token, conversation.mail_outside_senders) != old:
        await session.flush()
        await append_event(
            session,
            kind=EVENT,
            actor_id=actor.id,
            conversation_id=conversation.id,
            data={
                "enabled": conversation.mail_token is not None,
                "outside_senders": conversation.mail_outside_senders,
                "regenerated": old[0] is not None and conversation.mail_token not in (None, old[0]),
            },
        )
    return _out(access, actor, domain)


async def regenerate_mail_address(
    session: AsyncSession, actor: Actor, conversation_id: int, domain: str
) -> MailAddressOut:
    """Give the conversation a new address; an old one stops working at once."""
    return await _change(session, actor, conversation_id, domain, token=new_channel_token())


async def revoke_mail_address(session: AsyncSession, actor: Actor, conversation_id: int, domain: str) -> MailAddressOut:
    return await _change(session, actor, conversation_id, domain, token=None)


async def set_outside_senders(
    session: AsyncSession, actor: Actor, conversation_id: int, cmd: SetOutsideSenders, domain: str
) -> MailAddressOut:
    return await _change(session, actor, conversation_id, domain, outside_senders=cmd.outside_senders)

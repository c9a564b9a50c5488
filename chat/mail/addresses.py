"""Salon's mail addresses and Message-IDs, all at ``CHAT_MAIL_DOMAIN``.

* **Reply addresses** ``r.<user>.<message>.<signature>@domain``: the ``Reply-To`` of a
  notification about message ``<message>`` sent to user ``<user>``. A reply posts into
  that message's topic (where it is now) as that user. The signature is an HMAC-SHA256
  of both ids under the server's ``mail_reply_key`` (``chat.store.secrets``), 80 bits in
  hex: nobody can make an address for another user or topic. Lower case only, since
  some relays fold the local part.
* **Channel addresses** ``c.<token>@domain``: mail to it becomes a message in the
  conversation whose ``mail_token`` is ``<token>`` (regenerating the token revokes the old
  address).
* **Message-IDs** of the mails Salon sends: ``<n.<message>.<random>@domain>``, so that an
  inbound mail carrying one (a loop, or a reply quoting it in ``In-Reply-To``) is known.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from chat.store.db import Database
from chat.store.secrets import server_secret

REPLY_KEY_NAME = "mail_reply_key"
_SIGNATURE_HEX = 20
_REPLY = re.compile(r"r\.(\d{1,19})\.(\d{1,19})\.([0-9a-f]{20})")
_CHANNEL = re.compile(r"c\.([0-9a-z]{8,40})")
_OURS = re.compile(r"<?n\.(\d{1,19})\.[0-9a-z]+@(.+?)>?")


class BadAddress(ValueError):
    """An address of our domain that is not (or no longer) valid; ``str()`` is the reason."""


@dataclass(frozen=True, slots=True)
class ReplyAddress:
    user_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class ChannelAddress:
    token: str


async def reply_key(db: Database) -> bytes:
    return (await server_secret(db, REPLY_KEY_NAME)).encode()


def _signature(key: bytes, user_id: int, message_id: int) -> str:
    digest = hmac.new(key, f"reply:{user_id}:{message_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:_SIGNATURE_HEX]


def reply_address(key: bytes, domain: str, user_id: int, message_id: int) -> str:
    return f"r.{user_id}.{message_id}.{_signature(key, user_id, message_id)}@{domain}"


def channel_address(token: str, domain: str) -> str:
    return f"c.{token}@{domain}"


def new_channel_token() -> str:
    """A fresh, unguessable channel address token (lower-case letters and digits)."""
    return secrets.token_hex(10)


def parse_local_part(key: bytes, local: str) -> ReplyAddress | ChannelAddress:
    """What the local part of an address at our domain names. Raises :class:`BadAddress`."""
    local = local.lower()
    reply = _REPLY.fullmatch(local)
    if reply is not None:
        user_id, message_id = int(reply.group(1)), int(reply.group(2))
        if not hmac.compare_digest(reply.group(3), _signature(key, user_id, message_id)):
            raise BadAddress("this reply address is not valid (its signature does not match)")
        return ReplyAddress(user_id, message_id)
    channel = _CHANNEL.fullmatch(local)
    if channel is not None:
        return ChannelAddress(channel.group(1))
    raise BadAddress("no such address here")


def notification_message_id(message_id: int, domain: str) -> str:
    return f"<n.{message_id}.{secrets.token_hex(6)}@{domain}>"


def our_message(message_id_header: str, domain: str) -> int | None:
    """The Salon message id a Message-ID we generated names, or None if it is not one of ours."""
    match = _OURS.fullmatch(message_id_header.strip())
    if match is None or match.group(2).lower() != domain.lower():
        return None
    return int(match.group(1))

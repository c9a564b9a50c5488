"""Salon's SMTP receiver: aiosmtpd on the server's own event loop (``CHAT_SMTP_LISTEN``).

``start_receiver(db, settings)`` listens with ``loop.create_server`` (no thread of its own, as
aiosmtpd's ``Controller`` would start) and returns the ``asyncio.Server``, which the app's
lifespan closes. The SMTP dialogue:

* ``RCPT TO``: an address that takes no mail (another domain, forged, unknown, revoked or stale;
  ``chat.mail.targets``) is refused at once with ``550`` and the reason, so the sending server
  bounces the mail with that text; the database unreachable: ``451``.
* ``DATA``: more than ``mail_max_bytes`` is cut off by aiosmtpd with ``552``; a sender over
  ``mail_limit_per_sender`` attempts in the window (refused mails count here) gets ``450``; the mail then goes
  through ``chat.mail.inbound.deliver``: ``250`` delivered (or dropped as automatic mail, logged),
  ``550`` refused with the reason, ``450`` rate limited (the sender retries later).

It never authenticates anyone and relays nothing: only addresses at ``CHAT_MAIL_DOMAIN`` are
accepted. Put it behind the MX and firewall its port so that only the MX reaches it (the MX's
``Authentication-Results`` decide who a mail is from, ``CHAT_MAIL_TRUSTED_AUTHSERV_ID``), or use
``chat mail-ingest`` from a Postfix pipe instead. ``deliver`` reads and strips the body in worker
threads: a big mail does not hold up the loop it shares with the web server.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from chat.accounts.ratelimit import SlidingWindowLimiter
from chat.config import Settings
from chat.errors import ChatError, RateLimited
from chat.mail.inbound import check_recipient, deliver
from chat.store.db import Database

log = logging.getLogger(__name__)


def smtp_text(reason: str) -> str:
    """One line of printable ASCII, as an SMTP reply's text must be."""
    text = reason.encode("ascii", "replace").decode()
    return " ".join(text.split())[:400]


class InboundHandler:
    """aiosmtpd's handler: checks recipients as they come, delivers at the end of ``DATA``."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        # every attempt of a sender, refused ones too (``deliver`` counts only what it stored, in the
        # database): a sender whose mail is refused again and again is slowed down before any parsing
        self.attempts = SlidingWindowLimiter(settings.mail_limit_per_sender, settings.mail_limit_window_s)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            reason = await check_recipient(self.db, self.settings, address)
        except ChatError:
            return "451 4.3.0 the server cannot take mail right now, try again later"
        if reason is not None:
            log.info("inbound mail to %r refused at RCPT: %s", address, reason)
            return f"550 5.1.1 {smtp_text(reason)}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sender = str(envelope.mail_from or "").strip("<> ").lower()
        try:
            if sender:  # bounces (empty sender) are dropped unread anyway
                self.attempts.hit(sender)
        except RateLimited:
            log.info("inbound mail from %r refused: too many attempts", sender)
            return "450 4.7.1 too much mail from this sender right now, try again later"
        raw = envelope.original_content or b""
        try:
            outcome = await deliver(self.db, self.settings, raw, sender, list(envelope.rcpt_tos))
        except Exception:  # a bug or an outage must not bounce the mail for good: the sender retries
            log.exception("inbound mail from %r to %r failed", sender, envelope.rcpt_tos)
            return "451 4.3.0 the server cannot take mail right now, try again later"
        code, _, text = outcome.smtp_reply.partition(" ")
        return f"{code} {smtp_text(text)}"


def listen_address(settings: Settings) -> tuple[str, int]:
    host, _, port = settings.smtp_listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def start_receiver(db: Database, settings: Settings) -> asyncio.Server:
    handler = InboundHandler(db, settings)
    host, port = listen_address(settings)
    name = settings.mail_domain or socket.getfqdn()

    def factory() -> Any:
        return SMTP(handler, hostname=name, data_size_limit=settings.mail_max_bytes, ident="Salon")

    server = await asyncio.get_running_loop().create_server(factory, host, port)
    log.info("SMTP receiver for @%s listening on %s:%d", settings.mail_domain, host, port)
    return server

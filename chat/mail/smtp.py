"""Outbound mail through the relay of ``CHAT_SMTP_URL`` (aiosmtplib).

``smtp://host:port`` speaks plain SMTP (a relay on the same machine or network),
``smtp+starttls://`` requires STARTTLS, ``smtps://`` is TLS from the first byte; a
``user:password@`` part logs in. Every outbound mail (notifications, digests,
address confirmations) goes through :meth:`Mailer.send`, which raises
:class:`MailError` when the relay refuses it or cannot be reached: callers decide
whether to retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib

from chat.config import Settings

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0
_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(Exception):
    """The relay refused a mail or could not be reached."""


@dataclass(frozen=True, slots=True)
class Relay:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # TLS from the first byte (smtps://)
    start_tls: bool  # STARTTLS required (smtp+starttls://)

    @classmethod
    def from_url(cls, url: str) -> Relay:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("an SMTP URL is smtp://, smtps:// or smtp+starttls://, with a host")
        return cls(
            hostname=parts.hostname,
            port=parts.port or _DEFAULT_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls=parts.scheme == "smtp+starttls",
        )


def sender_domain(settings: Settings) -> str:
    """The domain of Salon's own addresses: ``mail_domain``, else the public origin's host."""
    if settings.mail_domain:
        return settings.mail_domain
    host = urlsplit(settings.public_origin).hostname if settings.public_origin else None
    return host or "localhost"


class Mailer:
    """Sends mail through the configured relay; ``enabled`` is False when ``CHAT_SMTP_URL`` is unset."""

    def __init__(self, settings: Settings) -> None:
        self.relay = Relay.from_url(settings.smtp_url) if settings.smtp_url else None
        self.domain = sender_domain(settings)
        self.reply_domain = settings.mail_domain  # Reply-To addresses need an MX for it; "": no Reply-To
        self.from_address = settings.mail_from or str(Address("Salon", "salon", self.domain))

    @property
    def enabled(self) -> bool:
        return self.relay is not None

    def new_message(self, to: str, subject: str) -> EmailMessage:
        """A message from Salon to ``to``, with a Message-ID of our domain (set another to thread)."""
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-reply should answer it
        return message

    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the relay. Raises :class:`MailError` if it is refused or unreachable."""
        relay = self.relay
        if relay is None:
            raise MailError("no SMTP relay is configured (CHAT_SMTP_URL)")
        try:
            await aiosmtplib.send(
                message,
                hostname=relay.hostname,
                port=relay.port,
                username=relay.username,
                password=relay.password,
                use_tls=relay.use_tls,
                start_tls=relay.start_tls,
                timeout=SEND_TIMEOUT_S,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail to %s not sent: %r", message["To"], exc)
            raise MailError(str(exc)) from exc

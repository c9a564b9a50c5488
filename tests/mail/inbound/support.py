"""Helpers for the inbound mail tests: a server whose SMTP receiver listens on 127.0.0.1, real
``smtplib`` sessions to it, mails written here, and what the database holds afterwards.

Verified addresses are written straight into ``users`` (``email``, ``email_verified_at``,
``email_key``): proving an address by a confirmation link is another part of the mail work, and
the receiver only reads the result.
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path

import httpx2
from sqlalchemy import func, select, update
from starlette.applications import Starlette

from chat.app import create_app
from chat.channels.commands import AddMember, CreateConversation
from chat.channels.conversations import add_member, create_conversation
from chat.channels.message_commands import PostMessage
from chat.channels.messages import post_message
from chat.config import Settings
from chat.domain.actors import Actor
from chat.mail.addresses import reply_address, reply_key
from chat.store import models
from chat.store.db import Database
from tests.factories import Cast, make_cast
from tests.integration.server import free_port

DOMAIN = "chat.example.test"
MX = "mx.chat.example.test"  # the authserv-id of the MX the tests trust (CHAT_MAIL_TRUSTED_AUTHSERV_ID)


@dataclass
class Mailroom:
    """A running app (lifespan started: the receiver listens) and its cast."""

    app: Starlette
    db: Database
    settings: Settings
    cast: Cast
    client: httpx2.AsyncClient
    port: int
    tokens: dict[int, str] = field(default_factory=dict)

    async def verify(self, actor: Actor, address: str) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                update(models.User)
                .where(models.User.id == actor.id)
                .values(email=address, email_key=address.lower(), email_verified_at=models.utcnow())
            )

    async def channel(self, owner: Actor, name: str, *members: Actor, kind: str = "public") -> int:
        async with self.db.transaction() as s:
            info = await create_conversation(s, owner, CreateConversation(kind=kind, name=name))  # type: ignore[arg-type]
            for member in members:
                await add_member(s, owner, info.id, AddMember(user_id=member.id))
        return info.id

    async def post(self, actor: Actor, conversation_id: int, topic: str, body: str) -> int:
        async with self.db.transaction() as s:
            posted = await post_message(s, actor, conversation_id, PostMessage(body=body, nonce=body[:60], topic=topic))
        return posted.message.id

    async def reply_to(self, actor: Actor, message_id: int) -> str:
        return reply_address(await reply_key(self.db), DOMAIN, actor.id, message_id)

    async def messages(self, conversation_id: int) -> list[models.Message]:
        async with self.db.read() as s:
            rows = await s.scalars(
                select(models.Message)
                .where(models.Message.conversation_id == conversation_id)
                .order_by(models.Message.id)
            )
            return list(rows)

    async def count(self, model: type[models.Base]) -> int:
        async with self.db.read() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)

    async def snapshot(self) -> tuple[int, ...]:
        """Rows that any stored mail would add to."""
        tables = (models.Message, models.Upload, models.MailThread, models.User, models.Membership, models.Event)
        return tuple([await self.count(t) for t in tables])

    async def api(self, method: str, path: str, actor: Actor, **kwargs: object) -> httpx2.Response:
        if actor.id not in self.tokens:
            from chat.accounts.tokens import issue_token

            async with self.db.transaction() as s:
                self.tokens[actor.id] = await issue_token(s, actor, "test")
        headers = {"Authorization": f"Bearer {self.tokens[actor.id]}"}
        return await self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)  # type: ignore[arg-type]

    async def send(self, mail: EmailMessage | bytes, to: str, sender: str) -> None:
        """One real SMTP session to the receiver; raises smtplib's errors on a 4xx/5xx answer."""
        raw = mail if isinstance(mail, bytes) else mail.as_bytes(policy=policy.SMTP)  # CRLF line ends
        await asyncio.to_thread(_send, self.port, raw, to, sender)


def _send(port: int, raw: bytes, to: str, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(sender, [to], raw)


def mail(sender: str, to: str, subject: str, text: str, *, dmarc: bool = True, **headers: str) -> EmailMessage:
    """A plain mail; ``dmarc``: with the trusted MX's ``dmarc=pass`` for the From domain, as the MX
    would add it to a mail whose From its domain's DMARC policy vouches for."""
    message = EmailMessage()
    if dmarc:
        message["Authentication-Results"] = authentication_results(sender)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mail.example.org")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


def authentication_results(sender: str, *, authserv_id: str = MX, result: str = "pass") -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return f"{authserv_id}; spf=pass smtp.mailfrom={domain}; dmarc={result} (p=reject) header.from={domain}"


def mail_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "allowed_hosts": ("testserver",),
        "mail_domain": DOMAIN,
        "smtp_listen": f"127.0.0.1:{free_port()}",
        "mail_trusted_authserv_id": MX,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


class running:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self._lifespan = self.app.router.lifespan_context(self.app)
        self._client: httpx2.AsyncClient | None = None

    async def __aenter__(self) -> Mailroom:
        await self._lifespan.__aenter__()
        db: Database = self.app.state.services.db
        cast = await make_cast(db)
        self._client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.app), base_url="http://testserver")
        port = int(self.settings.smtp_listen.rpartition(":")[2] or 0)  # 0: no receiver
        return Mailroom(self.app, db, self.settings, cast, self._client, port)

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self._lifespan.__aexit__(None, None, None)
        await self.app.state.services.db.dispose()

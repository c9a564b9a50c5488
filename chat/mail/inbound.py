"""Inbound mail, end to end: one :func:`deliver` for the SMTP receiver and ``chat mail-ingest``.

Order, for one mail and its recipients (each at ``CHAT_MAIL_DOMAIN``):

1. **Size** before parsing (``mail_max_bytes``), then the bounded parse (``chat.mail.parse``).
2. **Recipients** (``chat.mail.targets.resolve_recipient``): forged, unknown, revoked or stale
   addresses are refused with the reason.
3. **Loops and automatic mail are dropped**, answered as delivered but not stored, and logged:
   an empty envelope sender (a bounce), ``MAILER-DAEMON``/``postmaster``, ``Auto-Submitted``
   other than ``no``, ``Precedence: bulk|junk|list``, ``X-Autoreply``/``X-Autorespond``,
   ``List-Id``/``List-Unsubscribe``, a Message-ID Salon made (``addresses.our_message``), and a
   Message-ID already delivered (a re-sent mail is stored once).
4. **Who posts** (``targets.reply_poster`` / ``targets.channel_poster``), checked in a read
   session first, so a refused mail never stores its attachments.
5. **Rate limits**, counted in the database so that ``chat mail-ingest`` (one process per mail)
   and several servers count together: mails accepted from the same sender address
   (``mail_limit_per_sender``) and into the same conversation (``mail_limit_per_channel``) within
   ``mail_limit_window_s``, from the ``mail_threads`` rows of inbound mail. Over it: a temporary
   refusal (450, exit 75), so the sending server retries later.
6. **Attachments** stored as uploads would be (``chat.mail.attachments``).
7. **One write transaction**: the poster (an external guest created if need be), the message
   through ``chat.channels.messages.post_message`` (nonce: a hash of the Message-ID, so a
   re-delivered mail is stored once) and the ``mail_threads`` row of its Message-ID.

Reply addresses post into the message's current topic. Channel addresses take the topic of the
first known Message-ID the mail names (``In-Reply-To``, then ``References``) in the same
conversation, else the subject without its ``Re:``/``Fwd:``/``TR:`` prefixes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.message_commands import TOPIC_MAX, PostMessage, topic_key
from chat.channels.message_views import display_topic
from chat.channels.messages import post_message
from chat.channels.uploads import NewUpload, record_upload
from chat.config import Settings
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.mail.addresses import our_message, reply_key
from chat.mail.attachments import store_attachments
from chat.mail.parse import MailRefused, ParsedMail, is_automatic_sender, parse_mail, strip_reply
from chat.mail.targets import ReplyTarget, channel_poster, reply_poster, resolve_recipient
from chat.store import models
from chat.store.db import Database, insert_or_skip, table_of

log = logging.getLogger(__name__)

Status = Literal["delivered", "dropped", "refused", "deferred"]
_PREFIX = re.compile(r"^\s*(re|fwd?|tr|aw|wg)\s*(\[\d+\])?\s*:\s*", re.IGNORECASE)
_THREADS = table_of(models.MailThread)
NO_SUBJECT = "(no subject)"
CUT = "\n\n[…]"


@dataclass(frozen=True)
class Outcome:
    """What became of a mail: ``delivered`` (message ids), ``dropped`` (automatic: accepted, not
    stored), ``refused`` (``kind``: malformed, too_large, address) or ``deferred`` (try later)."""

    status: Status
    reason: str = ""
    kind: str = ""
    message_ids: tuple[int, ...] = ()

    @property
    def smtp_reply(self) -> str:
        if self.status in ("delivered", "dropped"):
            return "250 OK" if self.status == "delivered" else "250 OK (not stored: automatic mail)"
        if self.status == "deferred":
            return f"450 {self.reason}"
        return f"{552 if self.kind == 'too_large' else 550} {self.reason}"

    @property
    def exit_code(self) -> int:
        """``chat mail-ingest``'s exit status, as sysexits.h and Postfix's pipe read it."""
        if self.status in ("delivered", "dropped"):
            return 0
        if self.status == "deferred":
            return 75  # EX_TEMPFAIL
        return 67 if self.kind == "address" else 65  # EX_NOUSER, EX_DATAERR


def refusal(exc: MailRefused) -> Outcome:
    if exc.kind == "temporary":
        return Outcome("deferred", exc.reason, exc.kind)
    return Outcome("refused", exc.reason, exc.kind)


async def check_recipient(db: Database, settings: Settings, address: str) -> str | None:
    """The reason ``address`` takes no mail (for ``RCPT TO``), or None when it does."""
    key = await reply_key(db)
    try:
        async with db.read() as session:
            await resolve_recipient(session, key, settings.mail_domain, address)
    except MailRefused as exc:
        return exc.reason
    return None


async def deliver(db: Database, settings: Settings, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> Outcome:
    """Deliver one mail to its recipients (see the module docstring); never raises for the mail's
    sake: every refusal is an :class:`Outcome`."""
    try:
        mail = parse_mail(raw, settings.mail_max_bytes)
        raw_digest = hashlib.sha256(raw).hexdigest()
        key = await reply_key(db)
        async with db.read() as session:
            for address in rcpt_tos:
                await resolve_recipient(session, key, settings.mail_domain, address)
        dropped = _automatic(settings, mail, mail_from) or await _known(db, mail)
        if dropped:
            log.info("inbound mail from %r to %r dropped: %s", mail_from, rcpt_tos, dropped)
            return Outcome("dropped", dropped)
        if not rcpt_tos:
            raise MailRefused("this mail has no recipient", "address")
        posted: list[int] = []
        for address in rcpt_tos:
            posted.extend(await _deliver_one(db, settings, key, mail, mail_from, address, raw_digest))
    except MailRefused as exc:
        log.info("inbound mail from %r to %r refused: %s", mail_from, rcpt_tos, exc.reason)
        return refusal(exc)
    except ChatError as exc:
        log.warning("inbound mail from %r to %r not stored: %s", mail_from, rcpt_tos, exc.message)
        if exc.status >= 500:  # the storage is unreachable or full: the sending server retries later
            return Outcome("deferred", "the server cannot store mail right now, try again later", "temporary")
        return Outcome("refused", f"this mail cannot be posted: {exc.message}", "malformed")
    return Outcome("delivered", message_ids=tuple(posted))


def _senders(mail: ParsedMail, mail_from: str) -> tuple[str, ...]:
    envelope = mail_from.strip().strip("<>").lower()
    return tuple(dict.fromkeys(a for a in (mail.from_address, envelope) if a))


def _automatic(settings: Settings, mail: ParsedMail, mail_from: str) -> str | None:
    if is_automatic_sender(mail_from):
        return f"automatic sender {mail_from or '<>'} (a bounce or a mail system)"
    if is_automatic_sender(mail.from_address or "x@x"):
        return f"automatic sender {mail.from_address}"
    if mail.auto:
        return f"automatic mail ({mail.auto})"
    if mail.message_id and our_message(mail.message_id, settings.mail_domain) is not None:
        return "a mail Salon sent itself (a loop)"
    return None


async def _known(db: Database, mail: ParsedMail) -> str | None:
    if not mail.message_id:
        return None
    async with db.read() as session:
        seen = await session.get(models.MailThread, mail.message_id)
    return f"Message-ID {mail.message_id} was delivered already" if seen is not None else None


def thread_id(mail: ParsedMail, raw_digest: str) -> str:
    """The key of a mail in ``mail_threads``: its Message-ID, or one made from its bytes."""
    return mail.message_id or f"<{raw_digest[:40]}@inbound.invalid>"


async def _deliver_one(
    db: Database, settings: Settings, key: bytes, mail: ParsedMail, mail_from: str, address: str, raw_digest: str
) -> list[int]:
    senders = _senders(mail, mail_from)
    text = strip_reply(mail.text)
    if not text and not mail.attachments:
        raise MailRefused("no new text in this reply (only quoted text or a signature)")
    if len(text) > settings.max_message_chars:  # a message's limit: the rest is cut, and says so
        text = text[: settings.max_message_chars - len(CUT)].rstrip() + CUT
    async with db.read() as session:  # who would post: refuse before storing any file
        target = await resolve_recipient(session, key, settings.mail_domain, address)
        if isinstance(target, ReplyTarget):
            poster: Actor | None = reply_poster(target, senders)
            conversation_id = target.message.conversation_id
        else:
            poster = await channel_poster(session, target.conversation, senders, mail.from_name, create=False)
            conversation_id = target.conversation.id
        await _check_rates(session, settings, poster, conversation_id)
    uploads = await store_attachments(settings, mail.attachments)
    # one message per mail and recipient, however often the mail is delivered again
    nonce = "mail:" + hashlib.sha256(f"{thread_id(mail, raw_digest)}\n{address.lower()}".encode()).hexdigest()[:58]

    async def job(session: AsyncSession) -> int:
        target = await resolve_recipient(session, key, settings.mail_domain, address)
        if isinstance(target, ReplyTarget):
            actor = reply_poster(target, senders)
            conversation_id, topic = target.message.conversation_id, target.message.topic
        else:
            conversation = target.conversation
            found = await channel_poster(session, conversation, senders, mail.from_name, create=True)
            assert found is not None  # noqa: S101 - create=True always gives a poster
            actor, conversation_id = found, conversation.id
            topic = await _threaded_topic(session, conversation_id, mail) or topic_from_subject(mail.subject)
        body = text
        files = await _record(session, actor, uploads, settings.upload_quota_bytes)
        cmd = PostMessage(body=body, nonce=nonce, topic=topic, attachments=files)
        try:
            posted = await post_message(session, actor, conversation_id, cmd, max_chars=settings.max_message_chars)
        except ChatError as exc:
            raise MailRefused(f"this mail cannot be posted: {exc.message}") from None
        conn = await session.connection()
        row = {
            "message_id_header": thread_id(mail, raw_digest),
            "conversation_id": conversation_id,
            "topic_key": topic_key(posted.message.topic or ""),
            "message_id": posted.message.id,
            "created_at": models.utcnow(),
        }
        await conn.execute(insert_or_skip(conn, _THREADS, ("message_id_header",), "message_id_header"), row)
        return posted.message.id

    return [await db.write(job)]


async def _record(session: AsyncSession, actor: Actor, uploads: list[NewUpload], quota: int) -> list[int]:
    ids: list[int] = []
    for new in uploads:
        try:
            ids.append((await record_upload(session, actor, new, quota=quota)).id)
        except ChatError as exc:
            raise MailRefused(f"the attachment {new.name!r} cannot be kept: {exc.message}") from None
    return ids


async def _threaded_topic(session: AsyncSession, conversation_id: int, mail: ParsedMail) -> str | None:
    """The current topic of the first Message-ID the mail answers, in this conversation."""
    if not mail.references:
        return None
    t = models.MailThread
    rows = (
        await session.execute(
            select(t.message_id_header, t.topic_key, t.message_id).where(
                t.message_id_header.in_(mail.references), t.conversation_id == conversation_id
            )
        )
    ).all()
    known = {row.message_id_header: row for row in rows}
    for reference in mail.references:
        row = known.get(reference)
        if row is None:
            continue
        if row.message_id is not None:
            message = await session.get(models.Message, row.message_id)
            if message is not None and message.conversation_id == conversation_id and message.topic:
                return message.topic
        return await display_topic(session, conversation_id, row.topic_key)
    return None


def topic_from_subject(subject: str) -> str:
    """``Re:``, ``RE :``, ``Fwd:``, ``Fw:``, ``TR:`` (and ``AW:``/``WG:``) removed again and again,
    trimmed, cut to the topic limit; ``(no subject)`` when nothing is left."""
    topic = " ".join(subject.split())
    while True:
        shorter = _PREFIX.sub("", topic, count=1)
        if shorter == topic:
            break
        topic = shorter
    topic = "".join(c for c in topic if c.isprintable()).strip()[:TOPIC_MAX].strip()
    return topic or NO_SUBJECT


async def _check_rates(session: AsyncSession, settings: Settings, poster: Actor | None, conversation_id: int) -> None:
    since = models.utcnow() - timedelta(seconds=settings.mail_limit_window_s)
    t, m = models.MailThread, models.Message
    ours = t.message_id_header.like("<n.%") | t.message_id_header.like("n.%")  # notifications Salon sent
    inbound = (t.created_at >= since) & ~ours & t.message_id.is_not(None)
    if settings.mail_limit_per_channel:
        here = select(func.count()).select_from(t).where(inbound, t.conversation_id == conversation_id)
        count = await session.scalar(here)
        if (count or 0) >= settings.mail_limit_per_channel:
            raise MailRefused("too much mail to this conversation right now, try again later", "temporary")
    if settings.mail_limit_per_sender and poster is not None:
        mine = select(func.count()).select_from(t).join(m, m.id == t.message_id)
        mine = mine.where(inbound, m.author_id == poster.id)
        if (await session.scalar(mine) or 0) >= settings.mail_limit_per_sender:
            raise MailRefused("too much mail from this sender right now, try again later", "temporary")

"""Inbound mail, end to end: one :func:`deliver` for the SMTP receiver and ``chat mail-ingest``.

Order, for one mail and its recipients (each at ``CHAT_MAIL_DOMAIN``); everything up to 5 reads
the headers alone (``chat.mail.parse.parse_headers``), so a mail refused there is never parsed:

1. **Size** (``mail_max_bytes``) and the bounded header block.
2. **Recipients** (``chat.mail.targets.resolve_recipient``): forged, unknown, revoked or stale
   addresses are refused with the reason.
3. **Loops and automatic mail are dropped**, answered as delivered but not stored, and logged:
   an empty envelope sender (a bounce), ``MAILER-DAEMON``/``postmaster``, ``Auto-Submitted``
   other than ``no``, ``Precedence: bulk|junk|list``, ``X-Autoreply``/``X-Autorespond``,
   ``List-Id``/``List-Unsubscribe``, a Message-ID Salon made (``addresses.our_message``).
4. **Who posts**, for every recipient (``targets.reply_poster`` / ``targets.channel_poster``;
   :class:`Sender`: only the trusted MX's DMARC pass makes the From a user's), in a read session.
5. **Rate limits**, for every recipient, counted in the database so that ``chat mail-ingest``
   (one process per mail) and several servers count together: messages stored from inbound mail
   (their ``mail:`` nonce) by the same poster (``mail_limit_per_sender``) and into the same
   conversation (``mail_limit_per_channel``) within ``mail_limit_window_s``. Over it: a temporary
   refusal (450, exit 75), so the sending server retries later. A recipient that already has
   this mail (a re-delivery) is not counted again.
6. **The body**: parsed (``parse_mail``) and its new text found (``strip_reply``, on at most twice
   ``max_message_chars``) in worker threads, never on the event loop.
7. **Attachments** stored as uploads would be (``chat.mail.attachments``).
8. **One write transaction for all the recipients** (all stored or none): the poster (an external
   guest created if need be), the limits counted again, the message through
   ``chat.channels.messages.post_message`` (nonce: a hash of the Message-ID and the address, so a
   re-delivered mail is stored once per address) and the ``mail_threads`` row of its Message-ID
   (the first conversation it reached keeps it).

Reply addresses post into the message's current topic. Channel addresses take the topic of the
first known Message-ID the mail names (``In-Reply-To``, then ``References``) in the same
conversation, else the subject without its ``Re:``/``Fwd:``/``TR:`` prefixes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import Counter
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
from chat.mail.parse import (
    MailRefused,
    ParsedMail,
    dmarc_pass,
    is_automatic_sender,
    parse_headers,
    parse_mail,
    strip_reply,
)
from chat.mail.targets import ChannelTarget, ReplyTarget, channel_poster, reply_poster, resolve_recipient
from chat.store import models
from chat.store.db import Database, insert_or_skip, table_of

log = logging.getLogger(__name__)

Status = Literal["delivered", "dropped", "refused", "deferred"]
_PREFIX = re.compile(r"^\s*(re|fwd?|tr|aw|wg)\s*(\[\d+\])?\s*:\s*", re.IGNORECASE)
_THREADS = table_of(models.MailThread)
NO_SUBJECT = "(no subject)"
CUT = "\n\n[…]"
MAIL_NONCE = "mail:"  # the nonce of every message inbound mail stored, and of no other


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
    """Deliver one mail to its recipients (see the module docstring), all of them or none; never
    raises for the mail's sake: every refusal is an :class:`Outcome`."""
    try:
        return await _deliver(db, settings, raw, mail_from, rcpt_tos)
    except MailRefused as exc:
        log.info("inbound mail from %r to %r refused: %s", mail_from, rcpt_tos, exc.reason)
        return refusal(exc)
    except ChatError as exc:
        log.warning("inbound mail from %r to %r not stored: %s", mail_from, rcpt_tos, exc.message)
        if exc.status >= 500:  # the storage is unreachable or full: the sending server retries later
            return Outcome("deferred", "the server cannot store mail right now, try again later", "temporary")
        return Outcome("refused", f"this mail cannot be posted: {exc.message}", "malformed")


@dataclass(frozen=True)
class Sender:
    """Who a mail is from, as far as it can be told: ``verified`` is the From address when the
    trusted MX recorded a DMARC pass for it; ``claimed`` the From (else the envelope sender), which
    alone identifies nobody; ``reply_ok``: DMARC passed, or no MX is trusted (reply addresses)."""

    verified: str | None
    claimed: str
    from_address: str
    name: str
    reply_ok: bool

    @classmethod
    def of(cls, settings: Settings, head: ParsedMail, mail_from: str) -> Sender:
        trusted = settings.mail_trusted_authserv_id
        passed = bool(head.from_address) and dmarc_pass(head.auth_results, trusted, head.from_address)
        envelope = mail_from.strip().strip("<>").lower()
        verified = head.from_address if passed else None
        return cls(verified, head.from_address or envelope, head.from_address, head.from_name, passed or not trusted)


async def _deliver(db: Database, settings: Settings, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> Outcome:
    head = parse_headers(raw, settings.mail_max_bytes)  # the body is read only once the mail may be stored
    key = await reply_key(db)
    async with db.read() as session:
        for address in rcpt_tos:
            await resolve_recipient(session, key, settings.mail_domain, address)
    dropped = _automatic(settings, head, mail_from)
    if dropped:
        log.info("inbound mail from %r to %r dropped: %s", mail_from, rcpt_tos, dropped)
        return Outcome("dropped", dropped)
    if not rcpt_tos:
        raise MailRefused("this mail has no recipient", "address")
    sender = Sender.of(settings, head, mail_from)
    thread = head.message_id or f"<{(await asyncio.to_thread(_digest, raw))[:40]}@inbound.invalid>"
    # one message per mail and recipient, however often the mail is delivered again
    nonces = {address.lower(): mail_nonce(thread, address) for address in rcpt_tos}
    async with db.read() as session:  # every recipient's poster and limits, before the body is read
        pending: Counter[tuple[str, int]] = Counter()
        for address, nonce in nonces.items():
            target, poster = await _poster(session, settings, key, sender, address, create=False)
            conversation_id = _conversation_of(target)
            if poster is not None and await _stored(session, poster.id, nonce):
                continue  # delivered before: stored once, not counted again
            await _check_rates(session, settings, poster, conversation_id, pending)
            pending[("conversation", conversation_id)] += 1
            pending[("sender", poster.id if poster is not None else 0)] += 1
    mail = await asyncio.to_thread(parse_mail, raw, settings.mail_max_bytes)
    text = await asyncio.to_thread(reply_text, mail.text, settings.max_message_chars)
    if not text and not mail.attachments:
        raise MailRefused("no new text in this reply (only quoted text or a signature)")
    uploads = {address: await store_attachments(settings, mail.attachments) for address in nonces}

    async def job(session: AsyncSession) -> list[int]:
        posted_ids: list[int] = []
        for address, nonce in nonces.items():  # all recipients in one transaction: all stored or none
            target, found = await _poster(session, settings, key, sender, address, create=True)
            assert found is not None  # noqa: S101 - create=True always gives a poster
            posted_ids.append(
                await _post(session, settings, mail, target, found, text, nonce, uploads[address], thread)
            )
        return posted_ids

    return Outcome("delivered", message_ids=tuple(await db.write(job)))


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def mail_nonce(thread: str, address: str) -> str:
    return MAIL_NONCE + hashlib.sha256(f"{thread}\n{address.lower()}".encode()).hexdigest()[:58]


def reply_text(text: str, max_chars: int) -> str:
    """The reply's new text, cut to a message's limit (and saying so). Only the start of a long
    body is read: what lies beyond twice the limit could never be kept anyway."""
    text = strip_reply(text[: 2 * max_chars + 1000])
    if len(text) > max_chars:
        text = text[: max_chars - len(CUT)].rstrip() + CUT
    return text


def _conversation_of(target: ReplyTarget | ChannelTarget) -> int:
    return target.message.conversation_id if isinstance(target, ReplyTarget) else target.conversation.id


async def _poster(
    session: AsyncSession, settings: Settings, key: bytes, sender: Sender, address: str, *, create: bool
) -> tuple[ReplyTarget | ChannelTarget, Actor | None]:
    target = await resolve_recipient(session, key, settings.mail_domain, address)
    if isinstance(target, ReplyTarget):
        return target, reply_poster(target, sender.from_address, sender.reply_ok)
    found = await channel_poster(
        session, target.conversation, sender.verified, sender.claimed, sender.name, create=create
    )
    return target, found


async def _stored(session: AsyncSession, author_id: int, nonce: str) -> bool:
    m = models.Message
    return await session.scalar(select(m.id).where(m.author_id == author_id, m.nonce == nonce)) is not None


async def _post(
    session: AsyncSession,
    settings: Settings,
    mail: ParsedMail,
    target: ReplyTarget | ChannelTarget,
    actor: Actor,
    text: str,
    nonce: str,
    uploads: list[NewUpload],
    thread: str,
) -> int:
    conversation_id = _conversation_of(target)
    if isinstance(target, ReplyTarget):
        topic = target.message.topic
    else:
        topic = await _threaded_topic(session, conversation_id, mail) or topic_from_subject(mail.subject)
    if not await _stored(session, actor.id, nonce):  # counted again inside the write: the limits hold
        await _check_rates(session, settings, actor, conversation_id, Counter())
    files = await _record(session, actor, uploads, settings.upload_quota_bytes)
    cmd = PostMessage(body=text, nonce=nonce, topic=topic, attachments=files)
    try:
        posted = await post_message(session, actor, conversation_id, cmd, max_chars=settings.max_message_chars)
    except ChatError as exc:
        raise MailRefused(f"this mail cannot be posted: {exc.message}") from None
    conn = await session.connection()
    row = {
        "message_id_header": thread,
        "conversation_id": conversation_id,
        "topic_key": topic_key(posted.message.topic or ""),
        "message_id": posted.message.id,
        "created_at": models.utcnow(),
    }
    # threading: the first conversation a Message-ID reached keeps it (the table is keyed on it alone)
    await conn.execute(insert_or_skip(conn, _THREADS, ("message_id_header",), "message_id_header"), row)
    return posted.message.id


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


async def _check_rates(
    session: AsyncSession,
    settings: Settings,
    poster: Actor | None,
    conversation_id: int,
    pending: Counter[tuple[str, int]],
) -> None:
    """The limits, counted from the messages inbound mail stored (their nonce, which only this
    module writes, says so; a Message-ID, chosen by the sender, proves nothing), plus ``pending``:
    those this mail is about to store for its earlier recipients."""
    since = models.utcnow() - timedelta(seconds=settings.mail_limit_window_s)
    m = models.Message
    mailed = (m.created_at >= since) & m.nonce.like(MAIL_NONCE + "%")
    if settings.mail_limit_per_channel:
        here = await session.scalar(select(func.count()).where(mailed, m.conversation_id == conversation_id))
        if (here or 0) + pending[("conversation", conversation_id)] >= settings.mail_limit_per_channel:
            raise MailRefused("too much mail to this conversation right now, try again later", "temporary")
    if settings.mail_limit_per_sender and poster is not None:
        mine = await session.scalar(select(func.count()).where(mailed, m.author_id == poster.id))
        if (mine or 0) + pending[("sender", poster.id)] >= settings.mail_limit_per_sender:
            raise MailRefused("too much mail from this sender right now, try again later", "temporary")

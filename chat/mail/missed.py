"""Mail when missed: one mail per due ``pending_notifications`` row, if still unread.

For each row whose ``due_at`` passed, in one write transaction, the row is first *claimed*:
one conditional ``UPDATE`` moves ``due_at`` :data:`CLAIM_S` ahead where it is still due, and
the pass goes on only if that changed the row. Two passes that overlap (a process that lost
its lease mid-pass, see :mod:`chat.mail.notifier`) therefore never both mail a row: the
database lets one of them change it. A crash while sending retries the row when its claim
runs out, rather than never. Then, in the same transaction:

* the user is gone, deactivated, has no verified address or turned ``email_missed`` off:
  the row is dropped;
* the user is paused or in quiet hours: ``due_at`` moves to the end of it;
* none of the row's messages (``first_message_id`` … ``last_message_id``) is unread any
  more (read in Salon, deleted, or the user left): the row is dropped, no mail;
* otherwise the row stays claimed and its mail is sent.

``now`` moves on with the pass (:func:`pass_clock`: a row is claimed with the time it is
claimed at, not the time the pass began), and before each row the pass checks that its
process still holds the notifier's lease (``still_leader``).

Then the mail goes to the relay outside any transaction: the unread messages (the last
:data:`MAX_MESSAGES`, newest last) as text and HTML. Sent: the row is deleted (or, if a
new message extended it meanwhile, starts again after the sent ones) and the mail's
``Message-ID`` is recorded in ``mail_threads``. Refused or unreachable relay: the row
stays and ``due_at`` moves by a backoff that grows with the row's age (1 min … 1 h).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.notification_prefs import load, quiet_until
from chat.channels.reads import UnreadJoin
from chat.mail.addresses import notification_message_id, reply_address, reply_key
from chat.mail.compose import MailLine, fill, message_link, render_parts
from chat.mail.smtp import Mailer, MailError
from chat.mail.unsubscribe import unsubscribe_key, unsubscribe_link
from chat.store import models
from chat.store.db import Database

log = logging.getLogger(__name__)

MAX_MESSAGES = 20
DUE_PER_PASS = 50
CLAIM_S = 600
MIN_BACKOFF_S = 60
MAX_BACKOFF_S = 3600


@dataclass(frozen=True, slots=True)
class Batch:
    """A claimed row and what its mail says."""

    row_id: int
    user_id: int
    to: str
    conversation_id: int
    conversation: str  # "#sales" or "" for a DM
    lines: list[MailLine]
    last_message_id: int
    delay_s: int
    topic_key: str  # the last message's topic: replies thread into it


async def send_due(
    db: Database,
    mailer: Mailer,
    base: str,
    now: datetime,
    *,
    still_leader: Callable[[datetime], Awaitable[bool]] | None = None,
) -> int:
    """Mail every row due at ``now`` (at most :data:`DUE_PER_PASS`); the number of mails sent.

    ``still_leader(now)`` is asked before each row (the notifier renews its lease there); False
    ends the pass."""
    clock = pass_clock(now)
    p = models.PendingNotification
    async with db.read() as session:
        due = (await session.scalars(select(p.id).where(p.due_at <= now).order_by(p.due_at).limit(DUE_PER_PASS))).all()
    sent = 0
    for done, row_id in enumerate(due):
        if still_leader is not None and not await still_leader(clock()):
            log.info("notifier: lease lost; %s due rows left to the process that holds it", len(due) - done)
            break
        async with db.transaction() as session:
            batch = await claim(session, int(row_id), base, clock())
        if batch is not None and await _send(db, mailer, base, batch, clock):
            sent += 1
    return sent


def pass_clock(start: datetime) -> Callable[[], datetime]:
    """``start`` moved on by the time spent since: a pass's clock (``start`` may be a test's moved clock)."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


async def claim(session: AsyncSession, row_id: int, base: str, now: datetime) -> Batch | None:
    """Drop, defer or claim one due row (see the module docstring)."""
    p = models.PendingNotification
    claimed = await session.execute(
        update(p).where(p.id == row_id, p.due_at <= now).values(due_at=now + timedelta(seconds=CLAIM_S))
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None  # sent, dropped or claimed by another pass meanwhile
    row = await session.get(p, row_id)
    if row is None:
        return None
    user = await session.get(models.User, row.user_id)
    prefs = load(user.notification_settings if user is not None else None)
    if user is None or not user.active or user.email_verified_at is None or not user.email or not prefs.email_missed:
        await session.execute(delete(p).where(p.id == row_id))
        return None
    quiet = quiet_until(prefs, now)
    if quiet is not None:
        await session.execute(update(p).where(p.id == row_id).values(due_at=quiet))
        return None
    lines = await unread_lines(session, user.id, row.conversation_id, row.first_message_id, row.last_message_id, base)
    if not lines:
        await session.execute(delete(p).where(p.id == row_id))
        return None
    conversation = await session.get(models.Conversation, row.conversation_id)
    name = f"#{conversation.name}" if conversation is not None and conversation.kind != "direct" else ""
    key = await session.scalar(select(models.Message.topic_key).where(models.Message.id == lines[-1].id))
    return Batch(
        row_id,
        user.id,
        user.email,
        row.conversation_id,
        name,
        lines,
        row.last_message_id,
        prefs.email_delay_s,
        key or "",
    )


async def unread_lines(
    session: AsyncSession, user_id: int, conversation_id: int, first: int, last: int, base: str
) -> list[MailLine]:
    """The user's unread messages with ids in ``first … last`` (the newest :data:`MAX_MESSAGES`, oldest
    first); a muted topic's only where the user is mentioned by name."""
    m, u = models.Message, models.User
    reads = UnreadJoin(user_id)
    query = reads.apply(
        select(m.id, m.topic, m.html, m.created_at, m.mentions, reads.mode, u.display_name).join(
            u, u.id == m.author_id
        ),
        members_only=True,
    ).where(m.conversation_id == conversation_id, m.id >= first, m.id <= last, reads.unread, m.redacted_at.is_(None))
    rows = (await session.execute(query.order_by(m.id.desc()).limit(MAX_MESSAGES * 2))).all()
    lines = [
        MailLine(mid, author, created_at, topic, html, message_link(base, conversation_id, mid))
        for mid, topic, html, created_at, mentions, mode, author in rows
        if mode != "muted" or user_id in (mentions or ())
    ]
    return lines[:MAX_MESSAGES][::-1]


def subject_of(batch: Batch) -> str:
    last = batch.lines[-1]
    if not batch.conversation:
        return f"{last.author} (direct message)"
    return f"{batch.conversation} › {last.topic}" if last.topic else batch.conversation


async def _send(db: Database, mailer: Mailer, base: str, batch: Batch, clock: Callable[[], datetime]) -> bool:
    last = batch.lines[-1]
    message = mailer.new_message(batch.to, subject_of(batch))
    del message["Message-ID"]
    message_id = notification_message_id(last.id, mailer.domain)
    message["Message-ID"] = message_id
    if mailer.reply_domain:
        message["Reply-To"] = reply_address(await reply_key(db), mailer.reply_domain, batch.user_id, last.id)
    unsubscribe = unsubscribe_link(base, await unsubscribe_key(db), batch.user_id, "missed")
    text, html = render_parts(
        "missed",
        conversation=batch.conversation,
        subject=message["Subject"],
        lines=batch.lines,
        link=last.link,
        unsubscribe=unsubscribe,
        can_reply=bool(mailer.reply_domain),
    )
    fill(message, text, html, unsubscribe=unsubscribe)
    p = models.PendingNotification
    try:
        await mailer.send(message)
    except MailError:
        now = clock()
        async with db.transaction() as session:
            row = await session.get(p, batch.row_id)
            if row is not None:
                age = (now - row.created_at).total_seconds()
                backoff = min(MAX_BACKOFF_S, max(MIN_BACKOFF_S, age / 2))
                row.due_at = now + timedelta(seconds=backoff)
        return False
    now = clock()
    async with db.transaction() as session:
        gone = await session.execute(delete(p).where(p.id == batch.row_id, p.last_message_id <= batch.last_message_id))
        if not getattr(gone, "rowcount", 0):  # a newer message extended the row while it was sent
            await session.execute(
                update(p)
                .where(p.id == batch.row_id)
                .values(first_message_id=batch.last_message_id + 1, due_at=now + timedelta(seconds=batch.delay_s))
            )
        session.add(
            models.MailThread(
                message_id_header=message_id,
                conversation_id=batch.conversation_id,
                topic_key=batch.topic_key,
                message_id=last.id,
                created_at=now,
            )
        )
    return True

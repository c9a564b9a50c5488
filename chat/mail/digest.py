"""The daily digest: once a day, at the user's local hour, the followed topics with unread messages.

A user gets one when their digest is ``daily``, their address is verified, the hour has
come in their time zone and none was sent since (``notification_prefs.digest_due`` over
``digest_log``). The mail lists each topic they follow (``topic_states`` mode
``followed``) that has unread messages: the conversation, the topic, how many, who
wrote last, a link. Nothing unread: no mail, and the day counts as done. Paused or in
quiet hours: the digest waits until it ends. A relay failure is tried again after
:data:`RETRY_S` (kept in memory: at worst a restart retries sooner).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.notification_prefs import digest_due, load, quiet_until
from chat.channels.reads import UnreadJoin
from chat.mail.compose import fill, render_parts, topic_link
from chat.mail.missed import pass_clock
from chat.mail.smtp import Mailer, MailError
from chat.mail.unsubscribe import unsubscribe_key, unsubscribe_link
from chat.store import models
from chat.store.db import Database, insert_or_skip, table_of

log = logging.getLogger(__name__)

RETRY_S = 300
MAX_TOPICS = 50
_LOG = table_of(models.DigestLog)


@dataclass(frozen=True, slots=True)
class DigestTopic:
    conversation: str
    topic: str
    count: int
    last_author: str
    link: str


class DigestSender:
    def __init__(self, db: Database, base: str) -> None:
        self.db = db
        self.base = base
        self._retry_at: dict[int, datetime] = {}

    async def send_due(
        self, mailer: Mailer, now: datetime, *, still_leader: Callable[[datetime], Awaitable[bool]] | None = None
    ) -> int:
        """Send every digest due at ``now``; the number sent. ``still_leader(now)`` is asked before
        each mail (the notifier renews its lease there); False ends the pass."""
        clock = pass_clock(now)
        u, d = models.User, models.DigestLog
        async with self.db.read() as session:
            candidates = (
                await session.execute(
                    select(u.id, u.email, u.notification_settings, d.last_sent_at)
                    .outerjoin(d, d.user_id == u.id)
                    .where(u.active.is_(True), u.is_bot.is_(False), u.email_verified_at.is_not(None))
                    .where(u.email.is_not(None))
                    .order_by(u.id)
                )
            ).all()
        sent = 0
        for user_id, email, settings, last_sent in candidates:
            prefs = load(settings)
            if not digest_due(prefs, last_sent, now) or quiet_until(prefs, now) is not None:
                continue
            if self._retry_at.get(user_id, now) > now:
                continue
            if still_leader is not None and not await still_leader(clock()):
                break
            async with self.db.read() as session:
                topics = await followed_unread(session, user_id, self.base)
            if topics and not await self._send(mailer, user_id, email, topics):
                self._retry_at[user_id] = now + timedelta(seconds=RETRY_S)
                continue
            self._retry_at.pop(user_id, None)
            async with self.db.transaction() as session:
                await record_sent(session, user_id, now)
            sent += bool(topics)
        return sent

    async def _send(self, mailer: Mailer, user_id: int, to: str, topics: list[DigestTopic]) -> bool:
        total = sum(t.count for t in topics)
        subject = f"Your daily digest: {_count(total, 'unread message')} in {_count(len(topics), 'followed topic')}"
        message = mailer.new_message(to, subject)
        unsubscribe = unsubscribe_link(self.base, await unsubscribe_key(self.db), user_id, "digest")
        text, html = render_parts("digest", topics=topics, total=total, unsubscribe=unsubscribe, home=self.base + "/")
        fill(message, text, html, unsubscribe=unsubscribe)
        try:
            await mailer.send(message)
        except MailError:
            return False
        return True


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


async def followed_unread(session: AsyncSession, user_id: int, base: str) -> list[DigestTopic]:
    """The user's followed topics with unread messages, busiest first (at most :data:`MAX_TOPICS`)."""
    m, c = models.Message, models.Conversation
    reads = UnreadJoin(user_id)
    query = (
        reads.apply(
            select(m.conversation_id, m.topic_key, func.min(m.topic), func.count(m.id), func.max(m.id)),
            members_only=True,
        )
        .where(reads.unread, reads.mode == "followed")
        .group_by(m.conversation_id, m.topic_key)
        .order_by(func.count(m.id).desc(), func.max(m.id).desc())
        .limit(MAX_TOPICS)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    lasts = [int(r[4]) for r in rows]
    about = {
        mid: (name or "", author)
        for mid, name, author in (
            await session.execute(
                select(m.id, c.name, models.User.display_name)
                .join(c, c.id == m.conversation_id)
                .join(models.User, models.User.id == m.author_id)
                .where(m.id.in_(lasts))
            )
        ).all()
    }
    return [
        DigestTopic(
            conversation=f"#{about[last][0]}",
            topic=topic,
            count=int(count),
            last_author=about[last][1],
            link=topic_link(base, int(cid), topic),
        )
        for (cid, _key, topic, count, last), last in zip(rows, lasts, strict=True)
    ]


async def record_sent(session: AsyncSession, user_id: int, now: datetime) -> None:
    conn = await session.connection()
    inserted = await conn.execute(
        insert_or_skip(conn, _LOG, ("user_id",), "user_id"), {"user_id": user_id, "last_sent_at": now}
    )
    if inserted.scalar_one_or_none() is None:
        await session.execute(
            update(models.DigestLog).where(models.DigestLog.user_id == user_id).values(last_sent_at=now)
        )

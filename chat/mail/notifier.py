"""The notifier: reads the event log after its cursor and decides who is mailed or pushed.

One background task per server (started in the app's lifespan). It wakes when
:meth:`Notifier.poke` is called (the app calls it after each commit, after the hub
published: a poke only sets an ``asyncio.Event``, the post path never waits for it) and
every ``interval_s`` seconds. Each pass, in order:

1. **Events.** Reads ``message.posted`` and ``read.updated`` events after its cursor
   (``worker_cursors`` row ``notifier``), up to the newest event id read *first*: event ids
   commit in id order (``chat.domain.events``), so nothing below it can still appear, the
   same guarantee the events feed relies on (``chat.channels.feed``). The rules of
   :mod:`chat.mail.recipients` decide who is told. In ONE write transaction it advances the
   cursor (compare-and-set on the old value) and upserts a ``pending_notifications`` row per
   (user, conversation) to mail (``due_at`` = the first message's time + ``email_delay_s``;
   later messages move ``last_message_id`` only), and deletes the rows a ``read.updated``
   of the whole conversation passed. A crash before the commit loses nothing (the events
   are read again), after it doubles nothing (the cursor moved with the rows). Pushes go out
   after that commit, concurrently (at most :data:`PUSH_CONCURRENCY` at once): the pass
   waits for a batch's pushes at most :data:`PUSH_WAIT_S` (about one push timeout), then
   goes on while the slow ones finish in the background, so slow push services never hold
   up the mail or the lease. A push that fails is logged, never retried: it is a nudge; the
   mail is the guarantee.
2. **Missed mail** that is due (:mod:`chat.mail.missed`).
3. **Daily digests** that are due, checked once a minute (:mod:`chat.mail.digest`).

A fresh database starts the cursor at the newest event: history is never mailed. Without a
relay (``CHAT_SMTP_URL``) and push, no pass runs; when one is set later, events older than
a day past their delay are not mailed (:mod:`chat.mail.recipients`).

Several processes: a pass runs only in the process holding the lease (row
``notifier.lease`` of ``worker_cursors``: ``event_id`` = the holder's random id,
``updated_at`` = when the lease ends, renewed by a pass once half of it is gone). A holder
that dies is replaced within :data:`LEASE_S` seconds; one that stops cleanly releases it.
The cursor's compare-and-set makes a batch count once even if two processes ever overlap,
and a missed-message row is claimed by one conditional update (:mod:`chat.mail.missed`);
the lease is checked again before each mail and digest, so a pass that lost it stops.

Links: a mail's links start with :func:`~chat.mail.compose.origin`; a push's link is
absolute with ``CHAT_PUBLIC_ORIGIN`` and root-relative without it (``/#/c/…``: the service
worker opens it at its own origin, the one the person uses). :meth:`Notifier.start` logs a
warning when a relay is set without ``CHAT_PUBLIC_ORIGIN`` (the mails' links then start
with ``http://CHAT_HOST:CHAT_PORT``).

The clock is a parameter (``clock``), and :meth:`run_once` takes ``now``: tests move the
clock rather than sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.periodic import Periodic
from chat.channels.feed import latest_event_id
from chat.config import Settings
from chat.mail import digest, missed
from chat.mail.compose import message_link, origin, plain_excerpt, push_origin
from chat.mail.recipients import Decision, Post, decide, load_posts
from chat.mail.smtp import Mailer
from chat.push.notice import MAX_BODY_CHARS, PushNotice, PushTo
from chat.push.sender import TIMEOUT_S as PUSH_TIMEOUT_S
from chat.store import models
from chat.store.db import Database, insert_or_skip, table_of

log = logging.getLogger(__name__)

CURSOR = "notifier"
LEASE = "notifier.lease"
LEASE_S = 60
INTERVAL_S = 5.0
# After a poke, wait this long before the pass, so the commits of that second are read in one pass:
# a pass per commit doubled the writes of a busy server (bench/README.md, issue 13)
POKE_DELAY_S = 1.0
BATCH_SIZE = 200
DIGEST_EVERY = timedelta(minutes=1)
KINDS = ("message.posted", "read.updated")
PUSH_CONCURRENCY = 8  # pushes in flight at once (each to every browser of one user)
PUSH_WAIT_S = PUSH_TIMEOUT_S + 2  # how long a pass waits for its batch's pushes
PUSH_BACKLOG = 1000  # pushes waiting or in flight beyond which new ones are dropped (logged)
Clock = Callable[[], datetime]

_CURSORS = table_of(models.WorkerCursor)
_PENDING = table_of(models.PendingNotification)
_CURSOR_AT = select(models.WorkerCursor.event_id).where(models.WorkerCursor.name == CURSOR)


class _Overtaken(Exception):
    """Another process moved the cursor first: this batch is dropped (it is theirs)."""


@dataclass(frozen=True, slots=True)
class PassReport:
    events: int  # events read
    pending: int  # pending rows created or extended
    pushed: int
    mailed: int
    digests: int
    leader: bool  # False: another process holds the lease, nothing was done


class Notifier:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        mailer: Mailer,
        *,
        push: PushTo | None = None,
        is_online: Callable[[int], bool] = lambda _user: False,
        clock: Clock = models.utcnow,
        interval_s: float = INTERVAL_S,
        batch_size: int = BATCH_SIZE,
        push_wait_s: float = PUSH_WAIT_S,
        poke_delay_s: float = POKE_DELAY_S,
    ) -> None:
        self.db = db
        self.settings = settings
        self.mailer = mailer
        self.push = push
        self.is_online = is_online
        self.clock = clock
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.owner = secrets.randbits(62)
        self.base = origin(settings)
        self.push_base = push_origin(settings)
        self.push_wait_s = push_wait_s
        self.poke_delay_s = poke_delay_s
        self._push_slots = asyncio.Semaphore(PUSH_CONCURRENCY)
        self._pushing: set[asyncio.Task[bool]] = set()  # pushes not finished yet
        self._wake = asyncio.Event()
        self._periodic = Periodic(self._pass, interval_s, name="notifier", sleep=self._until_poked)
        self._digest_checked: datetime | None = None
        self._lease_until: datetime | None = None  # when the lease this process holds ends
        self.digests = digest.DigestSender(db, self.base)

    # --- the task -----------------------------------------------------------------------

    def poke(self) -> None:
        """Something was committed: run a pass soon (never blocks)."""
        self._wake.set()

    async def after_commit(self, events: Sequence[Any]) -> None:
        """Poke when a committed batch holds an event the notifier reads."""
        if any(getattr(event, "kind", None) in KINDS for event in events):
            self.poke()

    def start(self) -> None:
        if self.settings.smtp_url and not self.settings.public_origin:
            log.warning(
                "CHAT_SMTP_URL is set but CHAT_PUBLIC_ORIGIN is not: links in mails start with %s,"
                " which is wrong unless people reach Salon exactly there; set CHAT_PUBLIC_ORIGIN"
                " to the address people use (e.g. https://chat.example.com)",
                self.base,
            )
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.close()
        unfinished = list(self._pushing)  # pushes still waiting for a push service: given up
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        if self._lease_until is not None:
            with contextlib.suppress(Exception):  # the database may be gone already: the lease then expires
                await self.release()

    async def _pass(self) -> None:
        await self.run_once()

    async def _until_poked(self, seconds: float) -> None:
        """The pause between passes: ``seconds``, or ``poke_delay_s`` after something was committed
        (the commits of that delay are then read by one pass)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
                await asyncio.sleep(self.poke_delay_s)
        self._wake.clear()  # a poke during the next pass wakes the one after it

    # --- one pass -----------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> PassReport:
        now = now or self.clock()
        if not self.mailer.enabled and self.push is None:
            return PassReport(0, 0, 0, 0, 0, leader=False)  # nothing could be sent: read nothing
        if not await self.hold_lease(now):
            return PassReport(0, 0, 0, 0, 0, leader=False)
        clock = missed.pass_clock(now)
        events = pending = pushed = 0
        while True:
            read, made, sent, more = await self.process_events(now)
            events, pending, pushed = events + read, pending + made, pushed + sent
            if not more or not await self.hold_lease(clock()):  # renewed between batches, like between mails
                break
        mailed = digests = 0
        if self.mailer.enabled:
            mailed = await missed.send_due(self.db, self.mailer, self.base, now, still_leader=self.hold_lease)
        if self.mailer.enabled and (self._digest_checked is None or now - self._digest_checked >= DIGEST_EVERY):
            self._digest_checked = now
            digests = await self.digests.send_due(self.mailer, now, still_leader=self.hold_lease)
        return PassReport(events, pending, pushed, mailed, digests, leader=True)

    async def hold_lease(self, now: datetime) -> bool:
        """Take or renew the lease; a lease with more than half its time left is not written again."""
        if self._lease_until is not None and now < self._lease_until - timedelta(seconds=LEASE_S / 2):
            return True
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(
                insert_or_skip(conn, _CURSORS, ("name",), "name"),
                {"name": LEASE, "event_id": self.owner, "updated_at": now + timedelta(seconds=LEASE_S)},
            )
            taken = await session.execute(
                update(models.WorkerCursor)
                .where(
                    models.WorkerCursor.name == LEASE,
                    or_(models.WorkerCursor.event_id == self.owner, models.WorkerCursor.updated_at < now),
                )
                .values(event_id=self.owner, updated_at=now + timedelta(seconds=LEASE_S))
            )
        held = bool(getattr(taken, "rowcount", 0))
        self._lease_until = now + timedelta(seconds=LEASE_S) if held else None
        return held

    async def release(self) -> None:
        """Give the lease up (a clean shutdown): another process may take over at once."""
        self._lease_until = None
        async with self.db.transaction() as session:
            await session.execute(
                delete(models.WorkerCursor).where(
                    models.WorkerCursor.name == LEASE, models.WorkerCursor.event_id == self.owner
                )
            )

    async def process_events(self, now: datetime) -> tuple[int, int, int, bool]:
        """One batch: ``(events read, pending rows touched, pushes sent, more to read)``."""
        async with self.db.read() as session:
            cursor = await session.scalar(_CURSOR_AT)
            horizon = await latest_event_id(session)  # first: every id up to it is committed
            if cursor is None:
                await self._start_cursor(horizon, now)
                return 0, 0, 0, False
            if cursor >= horizon:
                return 0, 0, 0, False
            e = models.Event
            rows = (
                await session.execute(
                    select(e.id, e.kind, e.message_id, e.actor_id, e.payload)
                    .where(e.id > cursor, e.id <= horizon, e.kind.in_(KINDS))
                    .order_by(e.id)
                    .limit(self.batch_size)
                )
            ).all()
            full = len(rows) == self.batch_size
            new_cursor = int(rows[-1].id) if full else horizon
            posted = [(int(r.id), int(r.message_id)) for r in rows if r.kind == "message.posted" and r.message_id]
            facts = await load_posts(session, posted)
        decisions = list(
            decide(
                facts,
                now=now,
                mail_enabled=self.mailer.enabled,
                is_online=self.is_online,
                push_enabled=self.push is not None,
            )
        )
        by_event: dict[int, list[Decision]] = {}
        for d in decisions:
            by_event.setdefault(d.post.event_id, []).append(d)
        touched = 0
        try:
            async with self.db.transaction() as session:
                moved = await session.execute(
                    update(models.WorkerCursor)
                    .where(models.WorkerCursor.name == CURSOR, models.WorkerCursor.event_id == cursor)
                    .values(event_id=new_cursor, updated_at=now)
                )
                if not getattr(moved, "rowcount", 0):
                    raise _Overtaken
                for row in rows:
                    if row.kind == "read.updated":
                        await _forget_read(session, row.actor_id, row.payload)
                        continue
                    for d in by_event.get(int(row.id), ()):
                        if d.mail:
                            await _upsert_pending(session, d, now)
                            touched += 1
                await self.derived(session)
        except _Overtaken:
            log.info("notifier: another process read events %s-%s first", cursor, new_cursor)
            return 0, 0, 0, False
        pushed = await self._push_all([d for d in decisions if d.push])
        return len(rows), touched, pushed, full

    async def derived(self, session: AsyncSession) -> None:
        """Called last inside the events transaction, before its commit: a hook for work derived in
        the same transaction (none yet; the crash-safety test raises here, as a process killed
        before the commit would)."""

    async def _start_cursor(self, horizon: int, now: datetime) -> None:
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(
                insert_or_skip(conn, _CURSORS, ("name",), "name"),
                {"name": CURSOR, "event_id": horizon, "updated_at": now},
            )

    async def _push_all(self, decisions: list[Decision]) -> int:
        """Start a push per decision; wait for them at most :attr:`push_wait_s`. The pushes that
        succeeded by then (the others go on in the background: the pass does not wait)."""
        if self.push is None or not decisions:
            return 0
        tasks: list[asyncio.Task[bool]] = []
        for d in decisions:
            if len(self._pushing) >= PUSH_BACKLOG:
                log.warning("push backlog full: push to user %s for message %s dropped", d.user_id, d.post.message_id)
                continue
            task = asyncio.create_task(self._push(self.push, d), name=f"push-{d.user_id}-{d.post.message_id}")
            self._pushing.add(task)
            task.add_done_callback(self._pushing.discard)
            tasks.append(task)
        if not tasks:
            return 0
        done, _ = await asyncio.wait(tasks, timeout=self.push_wait_s)
        return sum(1 for task in done if not task.cancelled() and task.result())

    async def _push(self, push: PushTo, d: Decision) -> bool:
        async with self._push_slots:
            try:
                await push(d.user_id, push_notice(self.push_base, d.post))
            except Exception:
                log.exception("push to user %s failed", d.user_id)
                return False
        return True


def push_notice(base: str, post: Post) -> PushNotice:
    """What a push says about ``post``: who, where, the message as plain text, a link to it
    (``base`` "" makes it root-relative: :func:`~chat.mail.compose.push_origin`)."""
    if post.conversation_kind == "direct":
        title = f"{post.author_name} (direct message)"
    else:
        where = f"#{post.conversation_name}" + (f" › {post.topic}" if post.topic else "")
        title = f"{post.author_name} in {where}"
    return PushNotice(
        title=title,
        body=plain_excerpt(post.html, MAX_BODY_CHARS),
        url=message_link(base, post.conversation_id, post.message_id),
        tag=f"c{post.conversation_id}",
        conversation_id=post.conversation_id,
        message_id=post.message_id,
    )


async def _upsert_pending(session: AsyncSession, d: Decision, now: datetime) -> None:
    conn = await session.connection()
    inserted = await conn.execute(
        insert_or_skip(conn, _PENDING, ("user_id", "conversation_id"), "id"),
        {
            "user_id": d.user_id,
            "conversation_id": d.post.conversation_id,
            "first_message_id": d.post.message_id,
            "last_message_id": d.post.message_id,
            "due_at": d.post.created_at + timedelta(seconds=d.delay_s),
            "created_at": now,
        },
    )
    if inserted.scalar_one_or_none() is None:
        p = models.PendingNotification
        await session.execute(
            update(p)
            .where(p.user_id == d.user_id, p.conversation_id == d.post.conversation_id)
            .where(p.last_message_id < d.post.message_id)
            .values(last_message_id=d.post.message_id)
        )


async def _forget_read(session: AsyncSession, user_id: int | None, data: dict[str, Any]) -> None:
    """A ``read.updated`` of a whole conversation that passed a pending row's last message deletes it."""
    conversation, up_to = data.get("conversation"), data.get("up_to_message_id")
    if user_id is None or data.get("topic") is not None or not isinstance(conversation, int):
        return
    if not isinstance(up_to, int):
        return
    p = models.PendingNotification
    await session.execute(
        delete(p).where(p.user_id == user_id, p.conversation_id == conversation, p.last_message_id <= up_to)
    )


async def notifier_position(db: Database) -> int | None:
    """The notifier's cursor (None before its first pass): for tests and ``/health`` later."""
    async with db.read() as session:
        value = await session.scalar(_CURSOR_AT)
        return None if value is None else int(value)


async def pending_count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(models.PendingNotification)) or 0)

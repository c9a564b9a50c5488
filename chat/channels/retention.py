"""Retention: erase the bodies of expired messages, in small batches, unless a legal hold stands.

How long a message is kept: its conversation's ``retention_days`` when set (``0``:
forever), else the workspace's ``retention_days`` (``chat.store.workspace``; ``0``:
forever). A message posted before ``now - days`` has expired. A legal hold on its
conversation (``conversations.legal_hold``) or on its author (``users.legal_hold``)
keeps it, however old.

Erasing (:func:`redact_messages`, shared with a user's erasure) keeps every row and
every id and empties only the text: the message's ``body`` and ``html`` (and what was
derived from them: mentions, link and meeting flags), every revision's ``body``, and the
bodies of its events (``chat.archive.audit.redact_message_events``: ``events.redacted``,
the digest kept, so the hash chains still verify and the replay of
``chat.archive.replay`` expects an empty body). ``messages.redacted_at`` says when.
Reactions, topics, authors and timestamps stay. The search index follows the body (the
triggers of migration 0002 on SQLite, the expression index on PostgreSQL), so purged
text can no longer be found.

:func:`purge_expired` works conversation by conversation, ``batch_size`` messages per
write transaction (``db.write``: on SQLite each batch is one turn of the one writer,
and posts queued meanwhile go first), re-reading the holds and the conversation's
retention inside each transaction, so a hold placed (or a retention changed) during a
run stops that conversation's purge at the next batch. The transaction of a
conversation's last batch appends one ``retention.purged`` event to its chain
(``{"count", "cutoff", "days"}``, no actor: the server did it) when the run erased
something there. A run that stops half way (a crash) has erased some bodies without
that event; the next run erases the rest and logs what it erased, and each erased
event row stays marked ``redacted``.

The clock is a parameter: ``purge_expired(db, settings, now=...)``, and the
:class:`RetentionScheduler` of the server (started by the app's lifespan, also run by
``chat retention purge``) asks its ``clock`` for the time of each run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import redact_message_events
from chat.archive.periodic import Periodic, Sleep
from chat.config import Settings
from chat.domain.events import append_event
from chat.store import models
from chat.store.db import Database
from chat.store.workspace import load

log = logging.getLogger(__name__)

BATCH_SIZE = 500  # messages erased per write transaction
PURGE_INTERVAL_S = 3600.0  # how often the server purges (the CLI runs one purge)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- erasing bodies -------------------------------------------------------------------------------


async def redact_messages(session: AsyncSession, message_ids: Sequence[int], now: datetime) -> int:
    """Erase the text of these messages, their revisions and their events; returns how many messages.

    Messages already redacted are skipped. The caller decided they may go (retention, erasure)
    and owns the transaction.
    """
    ids = list(message_ids)
    if not ids:
        return 0
    m = models.Message
    result = await session.execute(
        update(m)
        .where(m.id.in_(ids), m.redacted_at.is_(None))
        .values(
            body="",
            html="",
            mentions=[],
            wildcard_mention="",
            has_link=False,
            has_meeting=False,
            redacted_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    r = models.MessageRevision
    erase = update(r).where(r.message_id.in_(ids), r.body != "").values(body="")
    await session.execute(erase.execution_options(synchronize_session=False))
    await redact_message_events(session, ids)
    return int(getattr(result, "rowcount", 0) or 0)


# --- the purge -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationPurge:
    """What one run erased in one conversation."""

    conversation: int
    count: int
    cutoff: datetime
    days: int


@dataclass(frozen=True)
class PurgeReport:
    now: datetime
    conversations: tuple[ConversationPurge, ...]
    batches: int  # write transactions that erased something

    @property
    def count(self) -> int:
        return sum(c.count for c in self.conversations)


def effective_days(conversation_days: int | None, workspace_days: int) -> int:
    """The retention in force for a conversation (0: kept forever)."""
    return workspace_days if conversation_days is None else conversation_days


async def expiring_conversations(session: AsyncSession, workspace_days: int) -> list[tuple[int, int | None, int]]:
    """``(conversation id, its own days, days in force)`` of every conversation not on hold whose messages expire."""
    c = models.Conversation
    query = select(c.id, c.retention_days).where(c.legal_hold.is_(False)).order_by(c.id)
    if workspace_days == 0:
        query = query.where(c.retention_days > 0)
    else:
        query = query.where((c.retention_days.is_(None)) | (c.retention_days > 0))
    rows = (await session.execute(query)).all()
    return [(int(cid), days, effective_days(days, workspace_days)) for cid, days in rows]


async def purge_expired(
    db: Database, settings: Settings, *, now: datetime, batch_size: int = BATCH_SIZE
) -> PurgeReport:
    """Erase every expired message's body (see the module docstring); returns what was erased."""
    async with db.read() as session:
        workspace = await load(session, settings)
        targets = await expiring_conversations(session, workspace.retention_days)
    done: list[ConversationPurge] = []
    batches = 0
    for conversation_id, own_days, days in targets:
        cutoff = now - timedelta(days=days)
        total = 0
        while True:
            batch = _Batch(conversation_id, own_days, cutoff, days, now, batch_size, total)
            erased, finished = await db.write(batch.run)
            total += erased
            batches += 1 if erased else 0
            if finished:
                break
            await asyncio.sleep(0)  # let whatever waits for the writer (posts) go between batches
        if total:
            done.append(ConversationPurge(conversation_id, total, cutoff, days))
    return PurgeReport(now, tuple(done), batches)


@dataclass(frozen=True)
class _Batch:
    """One write transaction of a purge: up to ``size`` expired messages of one conversation."""

    conversation_id: int
    own_days: int | None  # the conversation's retention_days when the run began
    cutoff: datetime
    days: int
    now: datetime
    size: int
    erased_before: int  # by this run's earlier batches in this conversation

    async def run(self, session: AsyncSession) -> tuple[int, bool]:
        """``(messages erased, whether the conversation is done)``."""
        c = models.Conversation
        now_set = (
            await session.execute(select(c.legal_hold, c.retention_days).where(c.id == self.conversation_id))
        ).first()
        ids: list[int] = []
        # gone, placed on hold or given another retention since the run began: the next run decides
        if now_set is not None and not now_set.legal_hold and now_set.retention_days == self.own_days:
            m, u = models.Message, models.User
            on_hold = select(u.id).where(u.legal_hold.is_(True))
            ids = list(
                (
                    await session.scalars(
                        select(m.id)
                        .where(
                            m.conversation_id == self.conversation_id,
                            m.created_at < self.cutoff,
                            m.redacted_at.is_(None),
                            m.author_id.not_in(on_hold),
                        )
                        .order_by(m.id)
                        .limit(self.size)
                    )
                ).all()
            )
        erased = await redact_messages(session, ids, self.now)
        finished = len(ids) < self.size
        total = self.erased_before + erased
        if finished and total:
            await append_event(
                session,
                kind="retention.purged",
                actor_id=None,
                conversation_id=self.conversation_id,
                data={"count": total, "cutoff": self.cutoff.isoformat(), "days": self.days},
                created_at=self.now,
            )
        return erased, finished


# --- the schedule ------------------------------------------------------------------------------------


class RetentionScheduler:
    """Every ``interval_s`` seconds, one purge at the time its ``clock`` gives (the first one at start).

    ``sleep`` waits between runs (``asyncio.sleep``; tests pass their own). A failed run is
    logged and tried again at the next interval; nothing here raises into the server.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        interval_s: float = PURGE_INTERVAL_S,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.batch_size = batch_size
        self.runs = 0
        self._periodic = Periodic(self.run_once, interval_s, name="retention-purge", sleep=sleep)

    async def run_once(self) -> PurgeReport | None:
        """One purge now (by the clock); None if it failed (logged)."""
        try:
            report = await purge_expired(self.db, self.settings, now=self.clock(), batch_size=self.batch_size)
        except Exception:
            log.exception("retention purge failed; trying again next interval")
            return None
        finally:
            self.runs += 1
        if report.count:
            log.info(
                "retention purge: %d message(s) erased in %d conversation(s)", report.count, len(report.conversations)
            )
        return report

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.close()

"""Verify the event log's hash chains in the database; erase (redact) an event's body.

``verify_log`` reads each chain in ``seq`` order and checks it with
:func:`chat.archive.chain.verify_chain`; it also checks that every message's
``message.posted`` event is still there, so a log cut at its tail does not go
unnoticed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.chain import ChainReport, Link, StoredEvent, verify_chain
from chat.errors import Invalid, NotFound
from chat.store import models

BATCH = 2000


@dataclass(frozen=True)
class AuditReport:
    chains: tuple[ChainReport, ...]
    missing_events: tuple[tuple[int, int], ...] = ()  # (message id, event id) pairs

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.chains) and not self.missing_events

    @property
    def events(self) -> int:
        return sum(c.events for c in self.chains)

    @property
    def redacted(self) -> int:
        return sum(c.redacted for c in self.chains)

    @property
    def first_problem(self) -> ChainReport | None:
        return next((c for c in self.chains if not c.ok), None)


async def _rows(session: AsyncSession, chain: str) -> AsyncIterator[StoredEvent]:
    async for row in chain_events(session, chain):
        yield stored_event(row)


async def chain_events(session: AsyncSession, chain: str) -> AsyncIterator[models.Event]:
    """One chain's rows in ``seq`` order, read in batches and detached from the session after each."""
    after = 0
    while True:
        batch = (
            await session.scalars(
                select(models.Event)
                .where(models.Event.chain == chain, models.Event.seq > after)
                .order_by(models.Event.seq)
                .limit(BATCH)
            )
        ).all()
        for row in batch:
            yield row
        session.expunge_all()  # callers keep what they need, not the rows
        if len(batch) < BATCH:
            return
        after = batch[-1].seq


def stored_event(row: models.Event) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        link=Link(
            chain=row.chain,
            seq=row.seq,
            conversation_id=row.conversation_id,
            actor_id=row.actor_id,
            subject_id=row.subject_id,
            message_id=row.message_id,
            audience=row.audience,
            kind=row.kind,
            payload=row.payload,
            created_at=row.created_at,
            body_digest=row.body_digest,
        ),
        body=row.body,
        redacted=row.redacted,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


async def verify_log(session: AsyncSession, conversation_id: int | None = None) -> AuditReport:
    """Verify every chain, or only one conversation's chain."""
    if conversation_id is not None:
        chains = [f"c{conversation_id}"]
        exists = await session.scalar(select(models.Conversation.id).where(models.Conversation.id == conversation_id))
        if exists is None:
            raise NotFound("conversation_not_found", f"no conversation {conversation_id}")
    else:
        chains = list((await session.scalars(select(models.Event.chain).distinct().order_by(models.Event.chain))).all())
    reports = []
    for chain in chains:
        rows = [row async for row in _rows(session, chain)]
        reports.append(verify_chain(chain, rows))
    missing_q = (
        select(models.Message.id, models.Message.event_id)
        .outerjoin(models.Event, models.Event.id == models.Message.event_id)
        .where(models.Message.event_id.is_not(None), models.Event.id.is_(None))
        .order_by(models.Message.id)
    )
    if conversation_id is not None:
        missing_q = missing_q.where(models.Message.conversation_id == conversation_id)
    missing = tuple((int(m), int(e or 0)) for m, e in (await session.execute(missing_q)).all())
    return AuditReport(tuple(reports), missing)


async def redact_event_body(session: AsyncSession, event_id: int) -> None:
    """Erase an event's body (message text and HTML) and keep its digest: the chain still verifies.

    Authorization is the caller's (moderation and retention actions decide who may erase).
    """
    row = await session.get(models.Event, event_id)
    if row is None:
        raise NotFound("event_not_found", f"no event {event_id}")
    if row.body is None and not row.redacted:
        raise Invalid("nothing_to_erase", "this event has no body")
    row.body = None
    row.redacted = True


async def redact_message_events(session: AsyncSession, message_ids: Sequence[int]) -> int:
    """Erase the bodies of every event of these messages (their posts and edits), as
    :func:`redact_event_body` erases one: body gone, digest kept, row marked ``redacted``.

    One statement for the whole batch (retention and erasure redact hundreds at a time); events
    already redacted or without a body are left alone. Returns how many events lost a body.
    """
    if not message_ids:
        return 0
    result = await session.execute(
        update(models.Event)
        .where(models.Event.message_id.in_(list(message_ids)), models.Event.body.is_not(None))
        .values(body=None, redacted=True)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)

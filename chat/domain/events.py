"""The event log: one append-only row per state change, chained, published on commit.

``append_event`` is called by every action, inside the action's transaction:
it takes the next ``seq`` of the chain, links the hash chain, inserts the row
and puts a plain :class:`Event` in the session's outbox. ``Database`` hands the
outbox to the realtime hub only after the commit.

Ordering: on SQLite there is one writer, which also remembers each chain's
head (``seq`` and hash of its last event) between transactions, so an append is
one INSERT. On PostgreSQL every transaction that appends an event first takes
one transaction-scoped advisory lock and reads the head under it, so event ids
are assigned and committed in the same order: a reader that has seen id N will
never later find a committed id below N (DESIGN.md, "Ordering that never skips").

An event on a conversation other than a message or reaction event (membership,
settings, topics) makes the writer forget what it remembered of that
conversation (:func:`conversation_changed`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.chain import EMPTY_DIGEST, GENESIS, Link, body_digest, link_hash
from chat.store import models
from chat.store.db import cached, forget, outbox, stage, table_of

Audience = Literal["members", "everyone", "staff", "admins", "subject"]

SYSTEM_CHAIN = "system"
_EVENTS = table_of(models.Event)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)  # built once: appending compiles nothing
_EVENT_LOCK_KEY = 0x5A10  # pg_advisory_xact_lock key that orders event ids
# kinds that change neither who is in a conversation, nor its settings, nor its topics' names
_LEAVES_STANDING = frozenset(
    {"message.posted", "message.edited", "message.deleted", "reaction.added", "reaction.removed"}
)


def chain_name(conversation_id: int | None) -> str:
    return SYSTEM_CHAIN if conversation_id is None else f"c{conversation_id}"


@dataclass(frozen=True)
class Event:
    """An event as clients see it (REST ``/events``, websocket ``event`` frames).

    ``audience``, ``subject_id`` and ``members`` are routing facts for the hub
    and the event reader; they are not part of the public shape.
    """

    id: int
    conversation: int | None
    seq: int
    kind: str
    actor: int | None
    data: dict[str, Any]
    created_at: datetime
    audience: Audience = "members"
    subject_id: int | None = None
    # For membership changes: the conversation's members right after the change,
    # so the hub can update its routing table without asking the database.
    members: tuple[int, ...] | None = field(default=None)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation": self.conversation,
            "seq": self.seq,
            "kind": self.kind,
            "actor": self.actor,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
        }


def event_from_row(row: models.Event, *, withhold_body: bool = False) -> Event:
    """The public event of a stored row. ``withhold_body``: the message was deleted
    since, so readers get the event without its text (the audit log keeps it)."""
    data = dict(row.payload)
    if row.redacted:
        data["redacted"] = True
    elif withhold_body and row.body is not None:
        data["withheld"] = True
    elif row.body is not None:
        data.update(json.loads(row.body))
    return Event(
        id=row.id,
        conversation=row.conversation_id,
        seq=row.seq,
        kind=row.kind,
        actor=row.actor_id,
        data=data,
        created_at=row.created_at,
        audience=row.audience,  # type: ignore[arg-type]
        subject_id=row.subject_id,
    )


async def append_event(
    session: AsyncSession,
    *,
    kind: str,
    actor_id: int | None,
    conversation_id: int | None = None,
    data: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    audience: Audience | None = None,
    subject_id: int | None = None,
    message_id: int | None = None,
    members: tuple[int, ...] | None = None,
    created_at: datetime | None = None,
) -> Event:
    """Write one event row in the caller's transaction and queue it for publishing.

    ``data`` is covered by the hash chain directly; ``body`` is the erasable
    part (message text and HTML), covered through its digest.
    """
    if audience is None:
        audience = "members" if conversation_id is not None else "everyone"
    if audience == "members" and conversation_id is None:
        raise ValueError("a members-only event needs a conversation")
    chain = chain_name(conversation_id)
    seq, prev_hash = await _next_link(session, chain)
    payload = dict(data or {})
    body_text = json.dumps(body, sort_keys=True, ensure_ascii=False) if body is not None else None
    digest = body_digest(body_text) if body_text is not None else EMPTY_DIGEST
    link = Link(
        chain=chain,
        seq=seq,
        conversation_id=conversation_id,
        actor_id=actor_id,
        subject_id=subject_id,
        message_id=message_id,
        audience=audience,
        kind=kind,
        payload=payload,
        created_at=created_at or models.utcnow(),
        body_digest=digest,
    )
    row = stored_row(link, prev_hash, body_text)
    hash_ = row["hash"]
    event_id = (await (await session.connection()).execute(_INSERT_EVENT, row)).scalar_one()
    stage(session, ("chain", chain), (seq, hash_))
    if conversation_id is not None and kind not in _LEAVES_STANDING:
        conversation_changed(session, conversation_id)
    public_data = {**payload, **(body or {})}
    event = Event(
        id=event_id,
        conversation=conversation_id,
        seq=seq,
        kind=kind,
        actor=actor_id,
        data=public_data,
        created_at=link.created_at,
        audience=audience,
        subject_id=subject_id,
        members=members,
    )
    outbox(session).append(event)
    return event


def stored_row(link: Link, prev_hash: str, body_text: str | None) -> dict[str, Any]:
    """The ``events`` columns of the event ``link`` describes, chained after ``prev_hash``
    (what :func:`append_event` inserts, and what a bulk load writes)."""
    return {
        "chain": link.chain,
        "seq": link.seq,
        "conversation_id": link.conversation_id,
        "actor_id": link.actor_id,
        "subject_id": link.subject_id,
        "message_id": link.message_id,
        "audience": link.audience,
        "kind": link.kind,
        "payload": link.payload,
        "body": body_text,
        "body_digest": link.body_digest,
        "redacted": False,
        "created_at": link.created_at,
        "prev_hash": prev_hash,
        "hash": link_hash(prev_hash, link),
    }


def conversation_changed(session: AsyncSession, conversation_id: int) -> None:
    """Forget what the writer remembers of a conversation (its standing, its topics' spellings)."""
    forget(session, ("standing", conversation_id))
    forget(session, ("topics", conversation_id))


def written_directly(session: AsyncSession, conversation_id: int | None) -> None:
    """Rows of this chain (events, messages) were written without :func:`append_event` (a bulk load):
    the writer must forget the chain's head and the conversation."""
    forget(session, ("chain", chain_name(conversation_id)))
    if conversation_id is not None:
        conversation_changed(session, conversation_id)


async def _next_link(session: AsyncSession, chain: str) -> tuple[int, str]:
    head: tuple[int, str] | None = cached(session, ("chain", chain))
    if head is not None:  # appended earlier in this transaction, or remembered by the SQLite writer
        return head[0] + 1, head[1]
    bind = session.get_bind()
    if bind.dialect.name == "postgresql" and not session.info.get("event_lock"):
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _EVENT_LOCK_KEY})
        session.info["event_lock"] = True
    last = (
        await session.execute(
            select(models.Event.seq, models.Event.hash)
            .where(models.Event.chain == chain)
            .order_by(models.Event.seq.desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return 1, GENESIS
    return int(last[0]) + 1, str(last[1])

"""The audit log as admins read it (``GET /api/v1/audit``): events newest first, filtered, with chain status.

Each entry names its actor, kind, conversation and time and gives a one-line
summary and the event's ``data``; never a message body (the erasable part of an
event, kept in ``events.body``, is not read at all). Viewing the log writes no
event: reading is not a change (exports are, and log themselves).

Filters use the log's indexes: ``actor`` → ``ix_events_actor_id_id``,
``conversation`` → ``ix_events_conversation_id_id``, dates → ``ix_events_created_at``;
pages are keyed by event id (``cursor``: the smallest id of the previous page).

Chain status: every chain with an event on the page is listed with its length.
Verifying a chain means reading and hashing *all* of its events (a busy
channel or the system chain holds 100,000 and more: seconds of work), so it is
done only when asked (``verify=true``, the page's "Verify" button), for the
chains on the page, and never cached: a remembered "verified" would hide rows
altered after it was computed. Unverified chains say ``unchecked``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import chain_events, stored_event, verify_log
from chat.archive.chain import verify_chain
from chat.channels.policy import can_administer
from chat.domain.actors import Actor
from chat.domain.events import SYSTEM_CHAIN
from chat.errors import Forbidden, NotFound
from chat.store import models

PAGE_MAX = 200
ChainState = Literal["verifies", "broken", "unchecked"]


@dataclass(frozen=True)
class AuditQuery:
    actor: int | None = None
    kind: str | None = None  # an exact kind, or a prefix ending in "." ("message.")
    conversation: int | None = None
    after: datetime | None = None  # created at or after
    before: datetime | None = None  # created strictly before
    limit: int = 50
    cursor: int | None = None  # events with a smaller id
    verify: bool = False


@dataclass(frozen=True)
class AuditEntry:
    id: int
    chain: str
    seq: int
    kind: str
    created_at: datetime
    actor: int | None
    actor_name: str | None  # display name (None: no actor, e.g. the server; or the account is gone)
    conversation: int | None
    conversation_name: str | None  # None for direct conversations and account-level events
    subject: int | None
    summary: str
    data: dict[str, Any]  # the event's data, never a message body
    redacted: bool  # its body was erased (retention, erasure): the chain still verifies


@dataclass(frozen=True)
class ChainStatus:
    chain: str
    conversation: int | None
    events: int  # the chain's length
    status: ChainState
    first_bad_seq: int | None
    problem: str


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEntry]
    chains: list[ChainStatus]
    next_cursor: int | None  # pass as cursor for the next (older) page; null on the last page


async def read_audit_log(session: AsyncSession, actor: Actor, query: AuditQuery) -> AuditPage:
    """A page of the log; 403 ``admin_required`` for anyone but an admin."""
    if not can_administer(actor):
        raise Forbidden("admin_required", "only administrators may read the audit log")
    e = models.Event
    columns = (e.id, e.chain, e.seq, e.kind, e.created_at, e.actor_id, e.conversation_id, e.subject_id, e.payload)
    page = select(*columns, e.redacted).order_by(e.id.desc()).limit(query.limit + 1)
    if query.actor is not None:
        page = page.where(e.actor_id == query.actor)
    if query.kind:
        page = page.where(
            e.kind.startswith(query.kind, autoescape=True) if query.kind.endswith(".") else e.kind == query.kind
        )
    if query.conversation is not None:
        page = page.where(e.conversation_id == query.conversation)
    if query.after is not None:
        page = page.where(e.created_at >= query.after)
    if query.before is not None:
        page = page.where(e.created_at < query.before)
    if query.cursor is not None:
        page = page.where(e.id < query.cursor)
    rows = (await session.execute(page)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    u, c = models.User, models.Conversation
    people = await _names(session, u.id, u.display_name, {r.actor_id for r in rows} | {r.subject_id for r in rows})
    places = await _names(session, c.id, c.name, {r.conversation_id for r in rows})
    entries = [
        AuditEntry(
            id=r.id,
            chain=r.chain,
            seq=r.seq,
            kind=r.kind,
            created_at=r.created_at,
            actor=r.actor_id,
            actor_name=people.get(r.actor_id),
            conversation=r.conversation_id,
            conversation_name=places.get(r.conversation_id),
            subject=r.subject_id,
            summary=summarise(r.kind, r.payload, people),
            data=dict(r.payload),
            redacted=r.redacted,
        )
        for r in rows
    ]
    chains = await _chain_status(session, sorted({r.chain for r in rows}), verify=query.verify)
    return AuditPage(entries, chains, rows[-1].id if more and rows else None)


async def _names(session: AsyncSession, key: Any, name: Any, ids: set[int | None]) -> dict[int, str]:
    """``key`` -> ``name`` (columns of one table) for these ids, in one statement."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    found = await session.execute(select(key, name).where(key.in_(wanted), name.is_not(None)))
    return {int(i): str(n) for i, n in found.all()}


def summarise(kind: str, data: dict[str, Any], people: dict[int, str]) -> str:
    """One line on what an event did, from its data (never a body): ``kind`` and its key facts."""

    def who(user: Any) -> str:
        if isinstance(user, dict):  # a user's public view (user.created, user.updated …)
            name = user.get("display_name") or user.get("username")
            return f"{name} (@{user.get('username')})" if name else f"user {user.get('id')}"
        return people.get(user, f"user {user}") if isinstance(user, int) else str(user)

    facts: list[str] = []
    if isinstance(data.get("changes"), dict):
        facts.append("changed " + ", ".join(sorted(data["changes"])))
    if isinstance(data.get("owner"), dict):
        facts.append(f"owner {who(data['owner'].get('old'))} → {who(data['owner'].get('new'))}")
    if "user" in data:
        facts.append(who(data["user"]))
    if "message_id" in data:
        facts.append(f"message {data['message_id']}")
    if isinstance(data.get("message"), dict) and "id" in data["message"]:
        facts.append(f"message {data['message']['id']}")
    if isinstance(data.get("conversation"), dict) and data["conversation"].get("name"):
        facts.append(str(data["conversation"]["name"]))
    for key in ("role", "active", "reason", "topic"):
        if isinstance(data.get(key), str | bool | int):
            facts.append(f"{key} {data[key]}")
    return kind if not facts else f"{kind}: " + "; ".join(facts)


async def _chain_status(session: AsyncSession, chains: list[str], *, verify: bool) -> list[ChainStatus]:
    if not chains:
        return []
    e = models.Event
    lengths_q = select(e.chain, func.max(e.seq)).where(e.chain.in_(chains)).group_by(e.chain)
    lengths = {str(chain): int(length) for chain, length in (await session.execute(lengths_q)).all()}
    out = []
    for chain in chains:
        conversation = None if chain == SYSTEM_CHAIN else int(chain[1:])
        status: ChainState = "unchecked"
        bad_seq, problem = None, ""
        if verify:
            ok, bad_seq, problem = await _verify(session, chain, conversation)
            status = "verifies" if ok else "broken"
        out.append(ChainStatus(chain, conversation, lengths.get(chain, 0), status, bad_seq, problem))
    return out


async def _verify(session: AsyncSession, chain: str, conversation: int | None) -> tuple[bool, int | None, str]:
    """Verify one chain in full (``verify_log`` for a conversation's: it also finds lost message events)."""
    if conversation is not None:
        try:
            log = await verify_log(session, conversation)
        except NotFound:  # the conversation row is gone: its chain alone
            pass
        else:
            first = log.first_problem
            if first is not None:
                return False, first.bad_seq, first.problem
            if log.missing_events:
                return False, None, f"message {log.missing_events[0][0]} has lost its message.posted event"
            return True, None, ""
    report = verify_chain(chain, [stored_event(row) async for row in chain_events(session, chain)])
    return report.ok, report.bad_seq, report.problem

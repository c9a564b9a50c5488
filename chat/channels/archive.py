"""The archive as the domain sees it: which conversations a reader may browse, and the export event.

The reading itself is :mod:`chat.archive.export` (keyset batches, no
authorization); this module decides *which* conversations through
``chat.channels.policy`` and writes the ``archive.exported`` event every
export leaves in the system chain (audience ``staff``): who exported what, in
which format, and for an HTML bundle the sha256 of its manifest and the chain
heads it carries, so a bundle can later be matched with the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.export import Scope
from chat.channels.history import visible_conversations
from chat.channels.policy import can_export_compliance, can_read_archive, can_view, conversation_not_found
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Forbidden, NotFound
from chat.store import models

ExportFormat = Literal["jsonl", "csv", "html"]
FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv", "html")


@dataclass(frozen=True)
class ArchiveEntry:
    """A conversation in the archive's list."""

    id: int
    kind: str
    title: str  # its name; a direct conversation's members
    archived: bool
    joined: bool


async def access_archive(session: AsyncSession, actor: Actor, conversation_id: int) -> models.Conversation:
    """A conversation whose archive the actor may read (``policy.can_read_archive``), or
    ``conversation_not_found`` (404, never 403)."""
    c, m = models.Conversation, models.Membership
    mine = (m.conversation_id == c.id) & (m.user_id == actor.id)
    row = (await session.execute(select(c, m.user_id).outerjoin(m, mine).where(c.id == conversation_id))).one_or_none()
    if row is None or not can_read_archive(actor, row[0].kind, row[1] is not None):  # type: ignore[arg-type]
        raise conversation_not_found()
    conversation: models.Conversation = row[0]
    return conversation


@dataclass(frozen=True)
class ReaderLimits:
    """What of these conversations' past a reader may not see (admins: nothing is hidden)."""

    hidden_places: frozenset[int]  # other conversations some of their messages were edited in
    sealed_messages: frozenset[int]  # messages since moved into a conversation the reader cannot see


async def reader_limits(session: AsyncSession, actor: Actor, conversation_ids: tuple[int, ...]) -> ReaderLimits:
    """The history API's rule for exports and archive pages: a message moved away into a conversation
    the reader cannot see takes its old events with it, and an edit made while a message sat in such
    a conversation shows no topic."""
    if can_export_compliance(actor):  # admins read every conversation anyway
        return ReaderLimits(frozenset(), frozenset())
    m, r, e = models.Message, models.MessageRevision, models.Event
    here = sorted(conversation_ids)
    moved_away = (
        await session.execute(
            select(m.id, m.conversation_id)
            .join(e, e.message_id == m.id)
            .where(e.conversation_id.in_(here), m.conversation_id.not_in(here))
            .distinct()
        )
    ).all()
    edited_elsewhere = set(
        (
            await session.scalars(
                select(r.conversation_id)
                .join(m, m.id == r.message_id)
                .where(m.conversation_id.in_(here), r.conversation_id.not_in(here))
                .distinct()
            )
        ).all()
    )
    places = {int(cid) for _, cid in moved_away} | {int(c) for c in edited_elsewhere}
    visible = await visible_conversations(session, actor, places)
    return ReaderLimits(
        hidden_places=frozenset(places - visible),
        sealed_messages=frozenset(int(mid) for mid, cid in moved_away if cid not in visible),
    )


async def log_outsider_view(session: AsyncSession, actor: Actor, conversation_id: int, topic_key: str | None) -> bool:
    """Write ``archive.viewed`` (system chain, audience admins) when ``actor`` reads this conversation's
    archive only because they are an admin (a private group or direct conversation they are not in):
    reading someone's correspondence is logged as exporting it is. True when it wrote the event."""
    c, m = models.Conversation, models.Membership
    mine = (m.conversation_id == c.id) & (m.user_id == actor.id)
    row = (await session.execute(select(c.kind, m.user_id).outerjoin(m, mine).where(c.id == conversation_id))).one()
    if can_view(actor, row[0], row[1] is not None):  # type: ignore[arg-type]
        return False
    await append_event(
        session,
        kind="archive.viewed",
        actor_id=actor.id,
        audience="admins",
        data={"conversation": conversation_id, "topic_key": topic_key},
    )
    return True


async def list_readable(session: AsyncSession, actor: Actor) -> list[ArchiveEntry]:
    """Every conversation whose archive the actor may read (admins: all of them), by kind then name."""
    c, m = models.Conversation, models.Membership
    mine = (m.conversation_id == c.id) & (m.user_id == actor.id)
    rows = (await session.execute(select(c, m.user_id).outerjoin(m, mine).order_by(c.kind, c.name_key, c.id))).all()
    readable = [
        (conv, joined is not None)
        for conv, joined in rows
        if can_read_archive(actor, conv.kind, joined is not None)  # type: ignore[arg-type]
    ]
    titles = await archive_titles(session, [conv.id for conv, _ in readable if conv.kind == "direct"])
    return [
        ArchiveEntry(conv.id, conv.kind, conv.name or titles.get(conv.id, ""), conv.archived, joined)
        for conv, joined in readable
    ]


async def compliance_scope(
    session: AsyncSession, actor: Actor, conversation_ids: list[int], start: datetime, end: datetime
) -> Scope:
    """The conversations (all when none are named) and dates of a compliance export; admins only."""
    if not can_export_compliance(actor):
        raise Forbidden("not_allowed", "only admins export across conversations")
    c = models.Conversation
    known = set((await session.scalars(select(c.id))).all())
    for cid in conversation_ids:
        if cid not in known:
            raise NotFound("conversation_not_found", "there is no such conversation", conversation=cid)
    chosen = sorted(set(conversation_ids)) if conversation_ids else sorted(known)
    return Scope(tuple(chosen), None, start, end)


async def record_export(
    session: AsyncSession, actor: Actor, scope: Scope, fmt: ExportFormat, *, topic: str | None, extra: dict[str, Any]
) -> None:
    """The ``archive.exported`` event: who exported what, in which format (system chain, staff only)."""
    await append_event(
        session,
        kind="archive.exported",
        actor_id=actor.id,
        conversation_id=None,
        audience="admins",
        data={
            "conversations": list(scope.conversation_ids),
            "topic": topic,
            "from": scope.start.isoformat() if scope.start else None,
            "to": scope.end.isoformat() if scope.end else None,
            "format": fmt,
            **extra,
        },
    )


async def archive_titles(session: AsyncSession, conversation_ids: list[int] | tuple[int, ...]) -> dict[int, str]:
    """How each conversation is named in the archive: its name, or a direct conversation's members."""
    c, m, u = models.Conversation, models.Membership, models.User
    titles: dict[int, str] = {}
    for start in range(0, len(conversation_ids), 500):
        chunk = list(conversation_ids[start : start + 500])
        rows = (await session.execute(select(c.id, c.kind, c.name).where(c.id.in_(chunk)))).all()
        titles.update({int(cid): str(name or "") for cid, _kind, name in rows})
        direct = [int(cid) for cid, kind, _name in rows if kind == "direct"]
        if direct:
            members: dict[int, list[str]] = {}
            for cid, display in (
                await session.execute(
                    select(m.conversation_id, u.display_name)
                    .join(u, u.id == m.user_id)
                    .where(m.conversation_id.in_(direct))
                    .order_by(u.display_name)
                )
            ).all():
                members.setdefault(int(cid), []).append(str(display))
            titles.update({cid: ", ".join(members.get(cid, ())) for cid in direct})
    return titles

"""Helpers for the message, topic, read-marker and history tests: real actions, row counts, a query counter."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.commands import AddMember, CreateConversation, OpenDirect
from chat.channels.conversations import add_member, create_conversation
from chat.channels.direct import get_or_create_direct
from chat.channels.message_commands import PostMessage
from chat.channels.message_views import MessageOut
from chat.channels.messages import post_message
from chat.domain.actors import Actor
from chat.domain.events import Event
from chat.store import models
from chat.store.db import Database

_nonces = itertools.count(1)

TABLES = {
    "messages": models.Message,
    "revisions": models.MessageRevision,
    "reactions": models.Reaction,
    "events": models.Event,
    "topic_states": models.TopicState,
    "read_markers": models.ReadMarker,
}


async def channel(db: Database, owner: Actor, name: str, *, kind: str = "public", members: Sequence[Actor] = ()) -> int:
    """A public channel or private group created by ``owner``, with ``members`` added through the real actions."""
    async with db.transaction() as s:
        info = await create_conversation(s, owner, CreateConversation(kind=kind, name=name))  # type: ignore[arg-type]
    for member in members:
        async with db.transaction() as s:
            await add_member(s, owner, info.id, AddMember(user_id=member.id))
    return info.id


async def direct(db: Database, actor: Actor, *others: Actor) -> int:
    async with db.transaction() as s:
        opened = await get_or_create_direct(s, actor, OpenDirect(user_ids=[o.id for o in others]))
    return opened.conversation.id


async def post(
    db: Database, actor: Actor, conversation_id: int, body: str = "hello", topic: str = "general", **kw: Any
) -> MessageOut:
    nonce = kw.pop("nonce", f"n{next(_nonces)}")
    async with db.transaction() as s:
        posted = await post_message(s, actor, conversation_id, PostMessage(body=body, nonce=nonce, topic=topic), **kw)
    return posted.message


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as s:
        return {
            name: int(await s.scalar(select(func.count()).select_from(model)) or 0) for name, model in TABLES.items()
        }


async def events_of(session: AsyncSession, kind_prefix: str = "") -> list[models.Event]:
    rows = await session.scalars(
        select(models.Event).where(models.Event.kind.like(f"{kind_prefix}%")).order_by(models.Event.id)
    )
    return list(rows.all())


def record_published(db: Database) -> list[Event]:
    seen: list[Event] = []

    async def record(events: Sequence[Any]) -> None:
        seen.extend(events)

    db.after_commit = record
    return seen


@contextlib.contextmanager
def count_queries(db: Database, *, threaded: bool = False) -> Iterator[list[str]]:
    """Every SQL statement sent on ``db``'s engines (reads, and the SQLite writer's) inside the block;
    ``threaded``: the threaded reads' engine too (exports, search, verification on SQLite).

    Transaction control (BEGIN, COMMIT, ROLLBACK; the writer's ``PRAGMA data_version``
    per batch) is left out: it is per transaction or per batch, not per action."""
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(statement)

    engines = [db.engine.sync_engine] + ([db.writer.engine.sync_engine] if db.writer is not None else [])
    if threaded and db._threaded_engine is not db.engine:
        engines.append(db._threaded_engine.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before)

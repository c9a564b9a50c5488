"""Bulk-load realistic history: the rows ``post_message`` writes, inserted many at a time.

Posting 110,000 messages through the action takes many minutes on a small
machine, so the history benchmark loads them here instead, in one
transaction, with the same content the action would write for each post:

* a ``messages`` row with the body rendered by ``chat.channels.render``
  (mentions of members resolved), ``has_link`` / ``has_meeting``, and the
  ``event_id`` / ``seq`` of its event;
* the first ``message_revisions`` row;
* a ``message.posted`` event whose ``data`` / ``body`` are built by the same
  helpers as the action's (``message_event_data`` / ``message_event_body``),
  linked into the conversation's hash chain after its current head.

The caller checks the result with ``chat.archive.audit.verify_log`` and by
comparing a loaded event's shape with one the action wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.chain import GENESIS, Link, body_digest
from chat.channels.meetings import detect_meetings
from chat.channels.message_commands import topic_key
from chat.channels.message_views import message_event_body, message_event_data, message_out
from chat.channels.render import MentionTarget, Rendered, render_markdown
from chat.domain.events import chain_name, stored_row, written_directly
from chat.store import models

CHUNK = 2000  # rows per INSERT … VALUES batch


async def _next_id(session: AsyncSession, model: type[models.Base]) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0) + 1  # type: ignore[attr-defined]


async def _chain_head(session: AsyncSession, chain: str) -> tuple[int, str]:
    last = (
        await session.execute(
            select(models.Event.seq, models.Event.hash)
            .where(models.Event.chain == chain)
            .order_by(models.Event.seq.desc())
            .limit(1)
        )
    ).first()
    return (0, GENESIS) if last is None else (int(last[0]), str(last[1]))


async def _insert(session: AsyncSession, model: type[models.Base], rows: list[dict[str, Any]]) -> None:
    table = model.__table__
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(table), rows[start : start + CHUNK])  # type: ignore[arg-type]


async def load_posts(
    session: AsyncSession,
    conversation_id: int,
    posts: Sequence[tuple[int, str, str]],
    mentionable: Mapping[str, MentionTarget],
    *,
    step: timedelta = timedelta(milliseconds=1),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert ``posts`` (author id, topic, body) as posted messages, oldest first; returns the last message id.

    Topics must already be in their display form. Must run alone (a benchmark's
    fresh database): ids are assigned here, and PostgreSQL sequences are moved past them.
    """
    chain = chain_name(conversation_id)
    written_directly(session, conversation_id)  # the SQLite writer must not keep the head it knew
    seq, prev = await _chain_head(session, chain)
    message_id = await _next_id(session, models.Message)
    revision_id = await _next_id(session, models.MessageRevision)
    event_id = await _next_id(session, models.Event)
    rendered: dict[str, Rendered] = {}
    messages: list[dict[str, Any]] = []
    revisions: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    start = models.utcnow()
    for n, (author_id, topic, body) in enumerate(posts):
        if body not in rendered:
            rendered[body] = render_markdown(body, mentionable=mentionable)
        r = rendered[body]
        now = start + step * n
        seq += 1
        columns: dict[str, Any] = {
            "id": message_id,
            "conversation_id": conversation_id,
            "topic": topic,
            "topic_key": topic_key(topic),
            "author_id": author_id,
            "nonce": f"bulk-{message_id}",
            "body": body,
            "html": r.html,
            "mentions": list(r.mentions),
            "wildcard_mention": r.wildcard,
            "has_link": r.has_link,
            "has_meeting": bool(detect_meetings(r.links)),
            "created_at": now,
            "edited_at": None,
            "deleted_at": None,
            "deleted_by": None,
            "delete_reason": None,
            "event_id": None,
            "seq": None,
        }
        out = message_out(models.Message(**columns))
        payload = {"message": message_event_data(out)}
        body_text = json.dumps(message_event_body(out), sort_keys=True, ensure_ascii=False)
        link = Link(
            chain=chain,
            seq=seq,
            conversation_id=conversation_id,
            actor_id=author_id,
            subject_id=None,
            message_id=message_id,
            audience="members",
            kind="message.posted",
            payload=payload,
            created_at=now,
            body_digest=body_digest(body_text),
        )
        row = stored_row(link, prev, body_text)
        hash_ = row["hash"]
        events.append({"id": event_id, **row})
        messages.append({**columns, "event_id": event_id, "seq": seq})
        revisions.append(
            {
                "id": revision_id,
                "message_id": message_id,
                "body": body,
                "topic": topic,
                "conversation_id": conversation_id,
                "editor_id": author_id,
                "created_at": now,
            }
        )
        prev = hash_
        message_id += 1
        revision_id += 1
        event_id += 1
        if progress is not None and len(messages) >= CHUNK * 5:
            await _flush(session, messages, revisions, events)
            progress(n + 1)
    await _flush(session, messages, revisions, events)
    if session.get_bind().dialect.name == "postgresql":
        for table in ("messages", "message_revisions", "events"):
            await session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
            )
    return message_id - 1


async def _flush(
    session: AsyncSession,
    messages: list[dict[str, Any]],
    revisions: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> None:
    await _insert(session, models.Message, messages)
    await _insert(session, models.MessageRevision, revisions)
    await _insert(session, models.Event, events)
    messages.clear()
    revisions.clear()
    events.clear()

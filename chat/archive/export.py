"""Read a conversation's archive: topics, messages with their history, chain events, in keyset batches.

What an export or an archive page contains, read so that memory stays
constant whatever the size: messages come in batches of :data:`BATCH` along an
index (``ix_messages_conversation_topic_id`` for a conversation or a topic,
``ix_messages_conversation_created_at`` for a date range), each batch with its
authors and revisions in one statement each; never ``OFFSET``.

Who may read is decided before anything here is called
(``chat.channels.archive.access_archive`` and ``compliance_scope``, which ask ``chat.channels.policy``): these
functions take conversation ids that were already allowed. They never write;
the export event is the caller's.

A message as exported (:func:`message_record`): its text and stored, sanitised
HTML; a deleted message is a tombstone (who, when, why) without text or
history; a message whose body retention or erasure removed (``redacted_at``)
shows as redacted, without text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import chain_events
from chat.store import models

BATCH = 500  # messages per statement
PAGE_MAX = 200  # messages on one archive page
CSV_COLUMNS = (
    "id",
    "conversation_id",
    "topic",
    "author_id",
    "author",
    "created_at",
    "edited_at",
    "deleted_at",
    "deleted_by",
    "delete_reason",
    "redacted",
    "revisions",
    "body",
    "attachments",
)
FILE_FIELDS = ("id", "name", "size", "content_type", "sha256")  # an attachment as exported


@dataclass(frozen=True)
class Scope:
    """Which messages: these conversations, optionally one topic (its key) or a date range [start, end)."""

    conversation_ids: tuple[int, ...]
    topic_key: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    # conversations the reader may not see: an edit made while a message was there shows no topic
    hidden_places: frozenset[int] = frozenset()

    @property
    def dated(self) -> bool:
        return self.start is not None or self.end is not None


@dataclass(frozen=True)
class TopicSummary:
    key: str
    name: str  # the display form of its newest message
    messages: int
    first_id: int
    last_id: int
    last_at: datetime


async def snapshot(session: AsyncSession) -> None:
    """Make the read session one consistent snapshot (PostgreSQL; a SQLite read transaction already is).

    Must be the session's first statement: messages and events read later agree.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


async def list_topics(session: AsyncSession, conversation_id: int) -> list[TopicSummary]:
    """Every topic of a conversation, newest activity first.

    One aggregate over ``ix_messages_conversation_topic_id`` (count, first and last
    id per topic key: an index-only scan), then the newest message of each topic
    for its spelling and date.
    """
    m = models.Message
    groups = (await session.execute(topics_statement(conversation_id))).all()
    newest: dict[int, tuple[str, datetime]] = {}
    last_ids = [int(g[3]) for g in groups]
    for start in range(0, len(last_ids), BATCH):
        chunk = last_ids[start : start + BATCH]
        for mid, topic, created in (
            await session.execute(select(m.id, m.topic, m.created_at).where(m.id.in_(chunk)))
        ).all():
            newest[int(mid)] = (str(topic), created)
    topics = [
        TopicSummary(str(key), newest[int(last)][0], int(count), int(first), int(last), newest[int(last)][1])
        for key, count, first, last in groups
    ]
    return sorted(topics, key=lambda t: t.last_id, reverse=True)


def topics_statement(conversation_id: int) -> Select[str, int, int, int]:
    """Per topic key: how many messages, the first and the last id (only the topic index is read)."""
    m = models.Message
    return (
        select(m.topic_key, func.count(m.id), func.min(m.id), func.max(m.id))
        .where(m.conversation_id == conversation_id)
        .group_by(m.topic_key)
    )


async def count_messages(session: AsyncSession, scope: Scope) -> int:
    m = models.Message
    return int(await session.scalar(select(func.count(m.id)).where(*_filters(scope))) or 0)


def _filters(scope: Scope) -> list[ColumnElement[bool]]:
    m = models.Message
    where: list[ColumnElement[bool]] = [m.conversation_id.in_(scope.conversation_ids)]
    if scope.topic_key is not None:
        where.append(m.topic_key == scope.topic_key)
    if scope.start is not None:
        where.append(m.created_at >= scope.start)
    if scope.end is not None:
        where.append(m.created_at < scope.end)
    return where


async def topic_page(
    session: AsyncSession,
    conversation_id: int,
    key: str,
    *,
    after: int = 0,
    before: int | None = None,
    hidden_places: frozenset[int] = frozenset(),
) -> tuple[list[dict[str, Any]], bool]:
    """One page of a topic (``PAGE_MAX`` messages after id ``after``, or the page ending before ``before``),
    oldest first, and whether more lie beyond it in the direction read."""
    m = models.Message
    q = select(m).where(m.conversation_id == conversation_id, m.topic_key == key)
    if before is not None:
        q = q.where(m.id < before).order_by(m.id.desc())
    else:
        q = q.where(m.id > after).order_by(m.id)
    rows = list((await session.scalars(q.limit(PAGE_MAX + 1))).all())
    more = len(rows) > PAGE_MAX
    rows = rows[:PAGE_MAX]
    if before is not None:
        rows.reverse()
    return await _records(session, rows, {}, hidden_places), more


async def iter_messages(session: AsyncSession, scope: Scope) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Every message of the scope as ``(topic key, export record)``, conversation by conversation,
    in keyset batches that each start where the index left off (no batch rereads the ones before).

    Order: by topic then id (a conversation: topic after topic, keys from the topic index; a topic),
    or by date then id (a date range).
    """
    names: dict[int, dict[str, Any]] = {}
    for conversation_id in scope.conversation_ids:
        if scope.dated:
            batches = _dated_batches(session, Scope((conversation_id,), None, scope.start, scope.end))
        else:
            keys = [scope.topic_key] if scope.topic_key is not None else await _topic_keys(session, conversation_id)
            batches = _topic_batches(session, conversation_id, keys)
        async for rows in batches:
            for row, record in zip(rows, await _records(session, rows, names, scope.hidden_places), strict=True):
                yield row.topic_key, record
            session.expunge_all()


async def _topic_keys(session: AsyncSession, conversation_id: int) -> list[str]:
    return sorted(str(key) for key, *_ in (await session.execute(topics_statement(conversation_id))).all())


async def _topic_batches(
    session: AsyncSession, conversation_id: int, keys: Sequence[str]
) -> AsyncIterator[list[models.Message]]:
    """``conversation_id = ? AND topic_key = ? AND id > ? ORDER BY id``: a seek on the topic index."""
    m = models.Message
    for key in keys:
        after = 0
        while True:
            q = select(m).where(m.conversation_id == conversation_id, m.topic_key == key, m.id > after)
            rows = list((await session.scalars(q.order_by(m.id).limit(BATCH))).all())
            if rows:
                yield rows
            if len(rows) < BATCH:
                break
            after = rows[-1].id


async def _dated_batches(session: AsyncSession, scope: Scope) -> AsyncIterator[list[models.Message]]:
    """``created_at >= ?`` on the date index, leaving out the rows of that instant already sent."""
    m = models.Message
    last: tuple[datetime, int] | None = None
    while True:
        # one lower bound on created_at (the range's start, then the last row sent), so the seek uses it
        bounded = scope if last is None else Scope(scope.conversation_ids, None, last[0], scope.end)
        q = select(m).where(*_filters(bounded))
        if last is not None:
            q = q.where(~((m.created_at == last[0]) & (m.id <= last[1])))
        rows = list((await session.scalars(q.order_by(m.created_at, m.id).limit(BATCH))).all())
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        last = (rows[-1].created_at, rows[-1].id)


async def _records(
    session: AsyncSession,
    rows: Sequence[models.Message],
    names: dict[int, dict[str, Any]],
    hidden_places: frozenset[int] = frozenset(),
) -> list[dict[str, Any]]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    r = models.MessageRevision
    revisions: dict[int, list[dict[str, Any]]] = {}
    for rev in (await session.scalars(select(r).where(r.message_id.in_(ids)).order_by(r.id))).all():
        revisions.setdefault(rev.message_id, []).append(
            {
                "body": rev.body,
                "topic": None if rev.conversation_id in hidden_places else rev.topic,
                "editor_id": rev.editor_id,
                "created_at": _iso(rev.created_at),
            }
        )
    wanted = {row.author_id for row in rows} | {row.deleted_by for row in rows if row.deleted_by} - names.keys()
    if wanted:
        u = models.User
        for uid, username, display in (
            await session.execute(select(u.id, u.username, u.display_name).where(u.id.in_(wanted)))
        ).all():
            names[int(uid)] = {"id": int(uid), "username": username, "display_name": display}
    files = await _attachments(session, [row.id for row in rows if row.deleted_at is None and row.redacted_at is None])
    return [message_record(row, revisions.get(row.id, []), names, files.get(row.id, [])) for row in rows]


async def _attachments(session: AsyncSession, message_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The files of these messages (:data:`FILE_FIELDS`), in their order, in one statement."""
    if not message_ids:
        return {}
    ma, u = models.MessageAttachment, models.Upload
    q = (
        select(ma.message_id, u.id, u.name, u.size, u.content_type, u.sha256)
        .join(u, u.id == ma.upload_id)
        .where(ma.message_id.in_(message_ids))
        .order_by(ma.message_id, ma.position)
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for message_id, *values in (await session.execute(q)).all():
        found.setdefault(int(message_id), []).append(dict(zip(FILE_FIELDS, values, strict=True)))
    return found


def message_record(
    row: models.Message,
    revisions: list[dict[str, Any]],
    names: dict[int, dict[str, Any]],
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One message as exported (JSONL line, CSV row, HTML page); a deleted or erased one lists no files."""
    deleted = row.deleted_at is not None
    redacted = row.redacted_at is not None
    hidden = deleted or redacted
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "topic": row.topic,
        "author": names.get(row.author_id, {"id": row.author_id, "username": "", "display_name": ""}),
        "created_at": _iso(row.created_at),
        "edited_at": _iso(row.edited_at),
        "body": "" if hidden else row.body,
        "html": "" if hidden else row.html,
        "deleted": (
            {
                "at": _iso(row.deleted_at),
                "by": names.get(row.deleted_by or 0, {"id": row.deleted_by}),
                "reason": row.delete_reason or "",
            }
            if deleted
            else None
        ),
        "redacted": redacted,
        "redacted_at": _iso(row.redacted_at),
        "revisions": [] if hidden else revisions,
        "attachments": [] if hidden else list(attachments or []),
        "event_id": row.event_id,
        "seq": row.seq,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def jsonl_line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()


def csv_header() -> bytes:
    return _csv_row(CSV_COLUMNS)


def csv_line(record: dict[str, Any]) -> bytes:
    deleted = record["deleted"] or {}
    return _csv_row(
        (
            record["id"],
            record["conversation_id"],
            record["topic"],
            record["author"]["id"],
            record["author"]["username"],
            record["created_at"],
            record["edited_at"] or "",
            deleted.get("at", ""),
            (deleted.get("by") or {}).get("id", ""),
            deleted.get("reason", ""),
            "yes" if record["redacted"] else "",
            len(record["revisions"]),
            record["body"],
            json.dumps(record["attachments"], ensure_ascii=False, sort_keys=True) if record["attachments"] else "",
        )
    )


def _csv_row(values: Iterable[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_no_formula(v) if isinstance(v, str) else v for v in values])
    return out.getvalue().encode()


def _no_formula(value: str) -> str:
    """A cell a spreadsheet would run as a formula is quoted with a leading apostrophe (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# --- chain events -----------------------------------------------------------------------------


async def chain_lines(
    session: AsyncSession,
    chain: str,
    *,
    withhold: frozenset[int] = frozenset(),
    sealed_audiences: frozenset[str] = frozenset(),
    sealed_messages: frozenset[int] = frozenset(),
) -> AsyncIterator[dict[str, Any]]:
    """A chain's events from seq 1, each with exactly the fields its hash covers, its body and links.

    ``withhold``: ids of deleted messages whose text this reader may not see; their
    body events keep their digest (the chain still verifies) without the text.
    ``sealed_audiences``: events meant for others (``staff``, ``subject``) that this reader
    may not read come as a sealed link (id, chain, seq, prev_hash, hash): the chain stays
    continuous, their contents stay out. ``sealed_messages``: the same for the events of
    messages since moved into a conversation this reader cannot see (as the events feed does).
    """
    async for row in chain_events(session, chain):
        if row.audience in sealed_audiences or (row.message_id is not None and row.message_id in sealed_messages):
            yield {
                "id": row.id,
                "chain": row.chain,
                "seq": row.seq,
                "prev_hash": row.prev_hash,
                "hash": row.hash,
                "sealed": True,
            }
            continue
        withheld = row.body is not None and row.message_id in withhold and row.kind != "message.deleted"
        yield {
            "id": row.id,
            "chain": row.chain,
            "seq": row.seq,
            "conversation_id": row.conversation_id,
            "actor_id": row.actor_id,
            "subject_id": row.subject_id,
            "message_id": row.message_id,
            "audience": row.audience,
            "kind": row.kind,
            "payload": row.payload,
            "created_at": row.created_at.isoformat(timespec="microseconds"),
            "body_digest": row.body_digest,
            "body": None if withheld else row.body,
            "redacted": row.redacted,
            "withheld": withheld,
            "prev_hash": row.prev_hash,
            "hash": row.hash,
        }


async def deleted_message_ids(session: AsyncSession, conversation_ids: Sequence[int]) -> frozenset[int]:
    m = models.Message
    q = select(m.id).where(m.conversation_id.in_(conversation_ids), m.deleted_at.is_not(None))
    return frozenset(int(i) for i in (await session.scalars(q)).all())

"""The read side of messages: history pages, one message, its revisions, the topics of a conversation.

What the actor may see is decided by the conversation a message is in *now*:
a message moved into a group the actor is not in is gone from their history
and answers ``message_not_found``.

History pages are anchored on message ids (stable under inserts): with no
anchor, the newest ``limit`` messages; ``before=X`` the ``limit`` messages just
older than X; ``after=X`` those just newer. A page is always oldest → newest
and says whether more messages lie on either side. Deleted messages appear as
tombstones. A page costs a constant number of statements (the conversation,
the membership, the rows, all their reactions, and for anchored pages one
``EXISTS`` for the other side), whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.message_commands import is_resolved, normalise_topic, topic_key
from chat.channels.message_views import MessageOut, access_message, messages_out, one_message_out
from chat.channels.policy import access_conversation, can_view
from chat.channels.reads import UnreadJoin
from chat.channels.render import render_markdown
from chat.domain.actors import Actor
from chat.errors import Invalid
from chat.store import models

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class MessagePage:
    """Messages oldest → newest; ``has_more_before`` / ``has_more_after``: whether to page on."""

    messages: list[MessageOut]
    has_more_before: bool
    has_more_after: bool


@dataclass(frozen=True)
class Revision:
    """One version of a message: ``posted``, ``edited`` (new body) or ``moved`` (new topic or conversation).

    ``conversation`` is null and ``topic`` empty for a place the reader cannot see.
    """

    number: int
    kind: str
    body: str
    html: str
    topic: str
    conversation: int | None
    editor: int
    created_at: datetime


@dataclass(frozen=True)
class MessageHistory:
    """Every revision of a message, oldest first (none for a deleted message)."""

    message: int
    revisions: list[Revision]


@dataclass(frozen=True)
class TopicSummary:
    topic: str
    resolved: bool
    message_count: int
    last_message_id: int
    last_message_at: datetime
    unread: int
    mode: str  # muted | followed | default


@dataclass(frozen=True)
class TopicList:
    """The topics of a conversation that have live messages, most recently active first."""

    conversation: int
    topics: list[TopicSummary]


async def list_messages(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    topic: str | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> MessagePage:
    """One page of a conversation's history, or of one topic's (``topic``, matched without regard to case)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("out_of_range", f"limit must be between 1 and {MAX_LIMIT}", field="limit", limit=MAX_LIMIT)
    if before is not None and after is not None:
        raise Invalid("conflicting_anchors", "give before or after, not both", field="before")
    await access_conversation(session, actor, conversation_id)
    m = models.Message
    scope = [m.conversation_id == conversation_id]
    if topic is not None and normalise_topic(topic):
        scope.append(m.topic_key == topic_key(topic))
    query = select(m).where(*scope).limit(limit + 1)
    if after is not None:
        rows = list((await session.scalars(query.where(m.id > after).order_by(m.id))).all())
        more_after = len(rows) > limit
        rows = rows[:limit]
        more_before = bool(await session.scalar(select(exists().where(*scope, m.id <= after))))
    else:
        if before is not None:
            query = query.where(m.id < before)
        rows = list((await session.scalars(query.order_by(m.id.desc()))).all())
        more_before = len(rows) > limit
        rows = rows[:limit][::-1]
        more_after = before is not None and bool(await session.scalar(select(exists().where(*scope, m.id >= before))))
    return MessagePage(await messages_out(session, rows), has_more_before=more_before, has_more_after=more_after)


async def get_message(session: AsyncSession, actor: Actor, message_id: int) -> MessageOut:
    row, _ = await access_message(session, actor, message_id)
    return await one_message_out(session, row)


async def message_history(session: AsyncSession, actor: Actor, message_id: int) -> MessageHistory:
    """The revisions of a message the actor can see. A deleted message shows none (its tombstone says why),
    nor does a redacted one (their text was erased)."""
    row, _ = await access_message(session, actor, message_id)
    if row.deleted_at is not None or row.redacted_at is not None:
        return MessageHistory(message=row.id, revisions=[])
    revisions = (
        await session.scalars(
            select(models.MessageRevision)
            .where(models.MessageRevision.message_id == row.id)
            .order_by(models.MessageRevision.id)
        )
    ).all()
    visible = await visible_conversations(
        session, actor, {r.conversation_id for r in revisions} - {row.conversation_id}
    )
    visible.add(row.conversation_id)
    out: list[Revision] = []
    previous: models.MessageRevision | None = None
    for number, rev in enumerate(revisions, start=1):
        if previous is None:
            kind = "posted"
        elif rev.body != previous.body:
            kind = "edited"
        else:
            kind = "moved"
        seen = rev.conversation_id in visible
        out.append(
            Revision(
                number=number,
                kind=kind,
                body=rev.body,
                html=render_markdown(rev.body, mentionable={}).html,
                topic=rev.topic if seen else "",
                conversation=rev.conversation_id if seen else None,
                editor=rev.editor_id,
                created_at=rev.created_at,
            )
        )
        previous = rev
    return MessageHistory(message=row.id, revisions=out)


async def visible_conversations(session: AsyncSession, actor: Actor, ids: set[int]) -> set[int]:
    """Which of these conversations the actor may see now (a message's history, a personal export)."""
    if not ids:
        return set()
    c, mb = models.Conversation, models.Membership
    rows = (
        await session.execute(
            select(c.id, c.kind, mb.user_id)
            .outerjoin(mb, (mb.conversation_id == c.id) & (mb.user_id == actor.id))
            .where(c.id.in_(sorted(ids)))
        )
    ).all()
    return {cid for cid, kind, member in rows if can_view(actor, kind, member is not None)}  # type: ignore[arg-type]


async def list_topics(session: AsyncSession, actor: Actor, conversation_id: int) -> TopicList:
    """Name, message count, last message, my unread count and my mute/follow mode of each topic."""
    await access_conversation(session, actor, conversation_id)
    m = models.Message
    reads = UnreadJoin(actor.id)
    query = reads.apply(
        select(
            m.topic_key,
            func.min(m.topic),
            func.count(m.id),
            func.max(m.id),
            func.max(m.created_at),
            func.coalesce(func.sum(case((reads.unread, 1), else_=0)), 0),
            func.max(reads.mode),
        ),
        members_only=False,
    ).where(m.conversation_id == conversation_id, m.deleted_at.is_(None))
    rows = (await session.execute(query.group_by(m.topic_key).order_by(func.max(m.id).desc()))).all()
    return TopicList(
        conversation=conversation_id,
        topics=[
            TopicSummary(
                topic=topic,
                resolved=is_resolved(topic),
                message_count=int(count),
                last_message_id=int(last_id),
                last_message_at=last_at,
                unread=int(unread),
                mode=mode or "default",
            )
            for _key, topic, count, last_id, last_at, unread, mode in rows
        ],
    )

"""How a message looks to clients, loading messages the actor may see, rendering a body.

``MessageOut`` is the one public shape of a message (REST responses, acks,
history pages). A deleted message is a tombstone: empty ``body`` and
``html``, no reactions, mentions or meetings, and ``deleted = {by, at, reason}``
(``deleted`` is ``null`` for a live message). A redacted message (its body erased by
retention or by its author's erasure, ``chat.channels.retention``) has an empty
``body`` and ``html``, no mentions or meetings, keeps its reactions, and says when in
``redacted_at`` (``null`` otherwise). Authors and reacting users are
user ids: clients resolve names from the user directory, so a page of
messages costs one query for the rows and one for all their reactions.

``render_for`` renders a body for a conversation: only its members can be
mentioned (one query, and only when the body has an ``@word``).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.attachments import AttachmentOut, load_attachments
from chat.channels.meetings import Meeting, detect_meetings
from chat.channels.names import confusable_key
from chat.channels.policy import ConversationAccess, access_conversation
from chat.channels.render import MentionTarget, Rendered, render_markdown
from chat.domain.actors import Actor
from chat.errors import NotFound
from chat.store import models
from chat.validation import to_json

_HREF = re.compile(r'<a href="([^"]*)"')
_MENTION_CANDIDATE = re.compile(r"@([A-Za-z0-9_.\-]{1,64})")


@dataclass(frozen=True)
class Tombstone:
    """Who deleted a message, when, and why ("" when no reason was given)."""

    by: int
    at: datetime
    reason: str


@dataclass(frozen=True)
class ReactionSummary:
    """One emoji on a message: how many users reacted with it, and who (in the order they did)."""

    emoji: str
    count: int
    users: list[int]


@dataclass(frozen=True)
class MessageOut:
    """A message as clients see it. ``event_id``/``seq`` are those of its ``message.posted`` event."""

    id: int
    conversation: int
    topic: str
    author: int
    body: str
    html: str
    created_at: datetime
    event_id: int | None
    seq: int | None
    edited_at: datetime | None
    deleted: Tombstone | None
    reactions: list[ReactionSummary]
    mentions: list[int]
    wildcard_mention: str
    has_link: bool
    has_meeting: bool
    meetings: list[Meeting]
    redacted_at: datetime | None = None  # when retention or an erasure erased the body
    attachments: list[AttachmentOut] = field(default_factory=list)  # none once deleted or redacted


def message_not_found() -> NotFound:
    """The one answer for a missing message and for a message in a conversation the actor may not see."""
    return NotFound("message_not_found", "there is no such message")


def meetings_in(html: str) -> list[Meeting]:
    """The meeting links of sanitised HTML (nh3 always writes ``<a href="...">``)."""
    return list(detect_meetings(html_lib.unescape(href) for href in _HREF.findall(html)))


def message_out(
    row: models.Message, reactions: Sequence[ReactionSummary] = (), attachments: Sequence[AttachmentOut] = ()
) -> MessageOut:
    if row.deleted_at is not None:
        return MessageOut(
            id=row.id,
            conversation=row.conversation_id,
            topic=row.topic,
            author=row.author_id,
            body="",
            html="",
            created_at=row.created_at,
            event_id=row.event_id,
            seq=row.seq,
            edited_at=row.edited_at,
            deleted=Tombstone(by=row.deleted_by or row.author_id, at=row.deleted_at, reason=row.delete_reason or ""),
            reactions=[],
            mentions=[],
            wildcard_mention="",
            has_link=False,
            has_meeting=False,
            meetings=[],
        )
    return MessageOut(
        id=row.id,
        conversation=row.conversation_id,
        topic=row.topic,
        author=row.author_id,
        body=row.body,
        html=row.html,
        created_at=row.created_at,
        event_id=row.event_id,
        seq=row.seq,
        edited_at=row.edited_at,
        deleted=None,
        reactions=list(reactions),
        mentions=list(row.mentions or ()),
        wildcard_mention=row.wildcard_mention,
        has_link=row.has_link,
        has_meeting=row.has_meeting,
        meetings=meetings_in(row.html) if row.has_meeting else [],
        redacted_at=row.redacted_at,
        attachments=[] if row.redacted_at is not None else list(attachments),
    )


async def load_reactions(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, list[ReactionSummary]]:
    """The reactions of many messages in one query, grouped by emoji in the order first used."""
    if not message_ids:
        return {}
    rows = (
        await session.execute(
            select(models.Reaction.message_id, models.Reaction.emoji, models.Reaction.user_id)
            .where(models.Reaction.message_id.in_(message_ids))
            .order_by(models.Reaction.message_id, models.Reaction.created_at, models.Reaction.user_id)
        )
    ).all()
    grouped: dict[int, dict[str, list[int]]] = {}
    for message_id, emoji, user_id in rows:
        grouped.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
    return {
        mid: [ReactionSummary(emoji=e, count=len(users), users=users) for e, users in by_emoji.items()]
        for mid, by_emoji in grouped.items()
    }


async def messages_out(session: AsyncSession, rows: Sequence[models.Message]) -> list[MessageOut]:
    live = [r.id for r in rows if r.deleted_at is None]
    reactions = await load_reactions(session, live)
    attachments = await load_attachments(
        session, [r.id for r in rows if r.deleted_at is None and r.redacted_at is None]
    )
    return [message_out(r, reactions.get(r.id, ()), attachments.get(r.id, ())) for r in rows]


async def one_message_out(session: AsyncSession, row: models.Message) -> MessageOut:
    return (await messages_out(session, [row]))[0]


async def access_message(
    session: AsyncSession, actor: Actor, message_id: int, *, lock: bool = False, with_mute: bool = False
) -> tuple[models.Message, ConversationAccess]:
    """Load a message the actor may see (in its *current* conversation), or raise ``message_not_found``.

    ``lock=True`` takes a row lock on the message (PostgreSQL; SQLite has one writer) so that
    an edit and a delete of the same message see each other. Lock order: message row, then the
    event lock; a topic move locks the conversation rows, then the message rows, then the event lock.
    """
    query = select(models.Message).where(models.Message.id == message_id).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise message_not_found()
    try:
        access = await access_conversation(session, actor, row.conversation_id, with_mute=with_mute)
    except NotFound:
        raise message_not_found() from None
    return row, access


# --- rendering ------------------------------------------------------------------------------


async def render_for(session: AsyncSession, conversation_id: int, body: str) -> Rendered:
    """Render a body for a conversation: only its members can be mentioned."""
    return render_markdown(body, mentionable=await mentionable_in(session, conversation_id, body))


async def mentionable_in(session: AsyncSession, conversation_id: int, body: str) -> Mapping[str, MentionTarget]:
    """The members of the conversation named by an ``@word`` of the body (one query, only when needed)."""
    names: set[str] = set()
    for match in _MENTION_CANDIDATE.finditer(body):
        name = match.group(1).lower()
        while name:
            names.add(name)
            if name[-1] not in ".-":
                break
            name = name[:-1]
    names.difference_update(("all", "topic"))
    if not names:
        return {}
    rows = (
        await session.execute(
            select(models.User.id, models.User.username, models.User.display_name)
            .join(models.Membership, models.Membership.user_id == models.User.id)
            .where(
                models.Membership.conversation_id == conversation_id,
                models.User.username.in_(sorted(names)),
                models.User.active.is_(True),
            )
        )
    ).all()
    return {u: MentionTarget(user_id=i, username=u, display_name=d) for i, u, d in rows}


def rendered_columns(rendered: Rendered) -> dict[str, object]:
    return {
        "html": rendered.html,
        "mentions": list(rendered.mentions),
        "wildcard_mention": rendered.wildcard,
        "has_link": rendered.has_link,
        "has_meeting": bool(detect_meetings(rendered.links)),
    }


def message_event_data(out: MessageOut) -> dict[str, Any]:
    """The hashed, never-erased part of a ``message.posted`` event: everything but the content."""
    data = to_json(out)
    for key in ("body", "html", "meetings", "event_id", "seq", "redacted_at"):
        data.pop(key)
    return dict(data)


def message_event_body(out: MessageOut) -> dict[str, Any]:
    """The erasable part of a message event: its text, HTML and meeting links."""
    return {"body": out.body, "html": out.html, "meetings": to_json(out.meetings)}


async def display_topic(session: AsyncSession, conversation_id: int, key: str) -> str | None:
    """The display form (first spelling) of the existing topic that ``key`` names, if any.

    A topic is named by its key (case-folded) or by any name that looks like
    it (the same ``confusable_key``): a new topic ``Q3`` with a Cyrillic ``Ԛ``
    *is* the topic ``Q3``, as ``q3`` is, so posting, renaming or moving into it
    merges (the caller takes the returned spelling and its key). Among old
    topics that already look alike, the oldest wins.
    """
    m = models.Message
    first = select(m.topic).where(m.conversation_id == conversation_id, m.topic_key == key).order_by(m.id).limit(1)
    found = (await session.execute(first)).scalar_one_or_none()
    if found is not None:
        return found
    look = confusable_key(key)
    topics = select(m.topic_key, func.min(m.id)).where(m.conversation_id == conversation_id).group_by(m.topic_key)
    alike = [first_id for other, first_id in (await session.execute(topics)).all() if confusable_key(other) == look]
    if not alike:
        return None
    return (await session.execute(select(m.topic).where(m.id == min(alike)))).scalar_one()

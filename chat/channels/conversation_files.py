"""A conversation's files: every file its visible messages carry, newest first, a page at a time.

``GET /api/v1/conversations/{id}/files?before=&limit=`` answers
:func:`list_conversation_files`: whoever may read the conversation's history
(``policy.access_conversation``: its members, and anyone but a guest for a public
channel; else ``conversation_not_found``) sees the files of its live messages
(not deleted, text not erased), where they are *now* (a topic moved elsewhere
takes its files along), with who posted each, when, in which topic.

Order and paging: by message, newest first, then in the order the message lists
them. A page holds ``limit`` files but never splits a message (its first message
comes whole even past the limit: a message carries at most ten files);
``next_before`` is the id of its last message, the ``before`` of the next page.
One statement for the rows (``message_attachments`` by its primary key, which
starts with ``message_id``, joined to the conversation's messages), whatever the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.attachments import MAX_ATTACHMENTS, AttachmentOut, attachment_out
from chat.channels.policy import access_conversation
from chat.domain.actors import Actor
from chat.errors import Invalid
from chat.store import models

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclass(frozen=True)
class Poster:
    id: int
    username: str
    display_name: str


@dataclass(frozen=True)
class ConversationFile:
    """One file, with the message that carries it: who posted it, when, in which topic."""

    message: int
    topic: str
    posted_at: datetime
    uploader: Poster
    attachment: AttachmentOut


@dataclass(frozen=True)
class FilePage:
    files: list[ConversationFile]
    has_more: bool
    next_before: int | None  # a message id: pass as ``before`` for the next (older) page


async def list_conversation_files(
    session: AsyncSession, actor: Actor, conversation_id: int, *, before: int | None = None, limit: int = DEFAULT_LIMIT
) -> FilePage:
    """The files of the conversation's visible messages older than message ``before``, newest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("out_of_range", f"limit must be between 1 and {MAX_LIMIT}", field="limit", limit=MAX_LIMIT)
    await access_conversation(session, actor, conversation_id)
    m, ma, u, who = models.Message, models.MessageAttachment, models.Upload, models.User
    q = (
        select(m.id, m.topic, m.created_at, who.id, who.username, who.display_name, models.Upload)
        .join(ma, ma.message_id == m.id)
        .join(u, u.id == ma.upload_id)
        .join(who, who.id == m.author_id)
        .where(m.conversation_id == conversation_id, m.deleted_at.is_(None), m.redacted_at.is_(None))
        .order_by(m.id.desc(), ma.position)
        .limit(limit + MAX_ATTACHMENTS)
    )
    if before is not None:
        q = q.where(m.id < before)
    rows = (await session.execute(q)).all()
    files: list[ConversationFile] = []
    last: int | None = None
    for message_id, topic, created_at, user_id, username, display_name, upload in rows:
        if message_id != last and len(files) >= limit:
            break  # a page ends between messages
        last = message_id
        poster = Poster(int(user_id), str(username), str(display_name))
        files.append(ConversationFile(int(message_id), str(topic), created_at, poster, attachment_out(upload)))
    has_more = len(files) < len(rows)
    return FilePage(files, has_more, files[-1].message if has_more else None)

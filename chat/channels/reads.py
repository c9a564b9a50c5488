"""Read markers and unread counts.

A read marker is a position: "I have read everything up to message id N",
kept per user for a whole conversation (``topic_key = ""``) and, optionally,
per topic. A message is read when its id is at or below the higher of the
two. Markers only move forward ("mark as unread" is a later feature) and are
capped at the newest message that exists, so a marker never pre-reads future
messages.

A message counts as **unread** for a user when it was written by someone
else, is not deleted, lies above the user's markers, and was posted while
they were a member (joining a channel does not make its history unread, as
in Zulip). Muted topics are reported but do not count toward a
conversation's ``unread`` total (``unread_with_muted`` includes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, String, and_, case, cast, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chat.channels.message_commands import MarkRead, topic_key
from chat.channels.policy import access_conversation
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Invalid
from chat.store import models

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class TopicUnread:
    topic: str
    count: int
    muted: bool


@dataclass(frozen=True)
class UnreadCounts:
    """Unread messages of one conversation for one user; ``unread`` leaves muted topics out."""

    conversation: int
    unread: int
    unread_with_muted: int
    mentions: int  # unread messages that mention the user, @all and @topic included (muted topics too)
    topics: list[TopicUnread]


@dataclass(frozen=True)
class ReadState:
    """The marker after ``mark_read``; ``topic`` is None for the whole conversation."""

    conversation: int
    topic: str | None
    up_to_message_id: int
    changed: bool


def mentions_user(user_id: int) -> ColumnElement[bool]:
    """SQL: the message mentions ``user_id`` by name, or everyone (``@all`` / ``@topic``).

    ``messages.mentions`` is a JSON list of ids written by one serializer (``[3, 12]``) on
    both backends, so matching its text is exact: an id is bounded by ``[``/``, `` and ``,``/``]``.
    """
    text = cast(models.Message.mentions, String)
    n = str(int(user_id))
    return or_(
        models.Message.wildcard_mention != "",
        text == f"[{n}]",
        text.like(f"[{n},%"),
        text.like(f"%, {n}]"),
        text.like(f"%, {n},%"),
    )


class UnreadJoin:
    """The user's markers, topic states and membership, to join to a query over ``models.Message``.

    ``unread`` is the SQL condition "this message is unread for the user"; ``mode`` is the
    topic-state column (NULL for the default mode).
    """

    def __init__(self, user_id: int) -> None:
        m = models.Message
        self.user_id = user_id
        self.member = aliased(models.Membership)
        self.whole = aliased(models.ReadMarker)
        self.per_topic = aliased(models.ReadMarker)
        self.state = aliased(models.TopicState)
        self.mode = self.state.mode
        self.unread: ColumnElement[bool] = and_(
            self.member.user_id.is_not(None),
            m.author_id != user_id,
            m.deleted_at.is_(None),
            m.id > func.coalesce(self.whole.last_read_id, 0),
            m.id > func.coalesce(self.per_topic.last_read_id, 0),
            m.created_at >= self.member.joined_at,
        )

    def apply(self, query: Select[*Ts], *, members_only: bool) -> Select[*Ts]:
        """Add the joins; ``members_only`` makes membership an inner join (other conversations drop out)."""
        m, uid = models.Message, self.user_id
        member, whole, per_topic, state = self.member, self.whole, self.per_topic, self.state
        on_member = and_(member.conversation_id == m.conversation_id, member.user_id == uid)
        query = query.join(member, on_member) if members_only else query.outerjoin(member, on_member)
        return (
            query.outerjoin(
                whole, and_(whole.user_id == uid, whole.conversation_id == m.conversation_id, whole.topic_key == "")
            )
            .outerjoin(
                per_topic,
                and_(
                    per_topic.user_id == uid,
                    per_topic.conversation_id == m.conversation_id,
                    per_topic.topic_key == m.topic_key,
                ),
            )
            .outerjoin(
                state,
                and_(state.user_id == uid, state.conversation_id == m.conversation_id, state.topic_key == m.topic_key),
            )
        )


async def unread_counts(
    session: AsyncSession, user_id: int, conversation_ids: Sequence[int]
) -> dict[int, UnreadCounts]:
    """Unread counts per conversation and per topic for one user, in one query (zeros included)."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    m = models.Message
    reads = UnreadJoin(user_id)
    query = reads.apply(
        select(
            m.conversation_id,
            m.topic_key,
            func.min(m.topic),
            func.count(m.id),
            func.max(reads.mode),
            func.sum(case((mentions_user(user_id), 1), else_=0)),
        ),
        members_only=True,
    ).where(m.conversation_id.in_(ids), reads.unread)
    rows = (await session.execute(query.group_by(m.conversation_id, m.topic_key).order_by(m.conversation_id))).all()
    topics: dict[int, list[TopicUnread]] = {cid: [] for cid in ids}
    mentions: dict[int, int] = dict.fromkeys(ids, 0)
    for conversation_id, _key, topic, count, topic_mode, mentioned in rows:
        topics[conversation_id].append(TopicUnread(topic=topic, count=int(count), muted=topic_mode == "muted"))
        mentions[conversation_id] += int(mentioned or 0)
    out: dict[int, UnreadCounts] = {}
    for cid, per_topic in topics.items():
        per_topic.sort(key=lambda t: (-t.count, t.topic))
        out[cid] = UnreadCounts(
            conversation=cid,
            unread=sum(t.count for t in per_topic if not t.muted),
            unread_with_muted=sum(t.count for t in per_topic),
            mentions=mentions[cid],
            topics=per_topic,
        )
    return out


async def mark_read(session: AsyncSession, actor: Actor, conversation_id: int, cmd: MarkRead) -> ReadState:
    """Move the actor's marker (whole conversation, or ``cmd.topic``) forward to ``up_to_message_id``.

    Writes ``read.updated`` (account-level chain, ``audience="subject"``) when the marker moved.
    """
    access = await access_conversation(session, actor, conversation_id)
    if cmd.topic is not None and access.kind == "direct":
        raise Invalid("topic_not_allowed", "direct conversations have no topics", field="topic")
    key = topic_key(cmd.topic) if cmd.topic is not None else ""
    newest_q = select(func.max(models.Message.id)).where(models.Message.conversation_id == conversation_id)
    if cmd.topic is not None:
        newest_q = newest_q.where(models.Message.topic_key == key)
    newest = int(await session.scalar(newest_q) or 0)
    up_to = min(cmd.up_to_message_id, newest)
    whole = await _marker(session, actor.id, conversation_id, "")
    marker = whole if key == "" else await _marker(session, actor.id, conversation_id, key)
    reached = max(_position(whole), _position(marker))
    if up_to <= reached:
        return ReadState(conversation_id, cmd.topic, reached, changed=False)
    await _set_marker(session, marker, actor.id, conversation_id, key, up_to)
    if key == "":
        rm = models.ReadMarker
        await session.execute(
            delete(rm).where(
                rm.user_id == actor.id,
                rm.conversation_id == conversation_id,
                rm.topic_key != "",
                rm.last_read_id <= up_to,
            )
        )
    await append_event(
        session,
        kind="read.updated",
        actor_id=actor.id,
        conversation_id=None,
        audience="subject",
        subject_id=actor.id,
        data={"conversation": conversation_id, "topic": cmd.topic, "up_to_message_id": up_to},
    )
    return ReadState(conversation_id, cmd.topic, up_to, changed=True)


def _position(marker: models.ReadMarker | None) -> int:
    return marker.last_read_id if marker is not None else 0


async def _marker(session: AsyncSession, user_id: int, conversation_id: int, key: str) -> models.ReadMarker | None:
    return await session.get(models.ReadMarker, (user_id, conversation_id, key), populate_existing=True)


async def _set_marker(
    session: AsyncSession, marker: models.ReadMarker | None, user_id: int, conversation_id: int, key: str, up_to: int
) -> None:
    if marker is not None:
        marker.last_read_id = max(marker.last_read_id, up_to)
        await session.flush()
        return
    try:
        async with session.begin_nested():
            session.add(
                models.ReadMarker(user_id=user_id, conversation_id=conversation_id, topic_key=key, last_read_id=up_to)
            )
            await session.flush()
    except IntegrityError:  # a concurrent request created it first: move it forward instead
        raced = await _marker(session, user_id, conversation_id, key)
        if raced is None:
            raise
        raced.last_read_id = max(raced.last_read_id, up_to)
        await session.flush()

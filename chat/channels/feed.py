"""Reading the event log back: what one user may see, after a cursor, in order.

This is what ``GET /api/v1/events`` and a websocket ``resume`` serve. What a
user may see is decided *now*, not when the event was written: a member
removed from a private group sees none of its events any more, and the
events of a message moved into a conversation the user cannot see are hidden
(``events.message_id`` points at the message's current home). "Now" includes
the account's role, read from the database in the same snapshot, not the role
the caller's ``Actor`` was built with (a socket opened before a demotion asks
with the old one): a demoted moderator stops seeing staff events, a member
demoted to guest the directory.

Cursors: an ``after`` beyond the newest event is clamped to the newest event
id, never echoed back. A client holding a cursor from the future (a restored
backup, a bug, a hostile proxy) would otherwise keep it and silently miss every
event up to it; clamped, it receives ``last_event_id`` = the newest id and
everything after it.

Cursor safety: on SQLite there is one writer; on PostgreSQL event ids are
assigned under one advisory lock held until commit (``chat.channels.events``),
so every id below a committed id is already committed or will never exist.
Reading ``id > after`` therefore never skips a late commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

from sqlalchemy import false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.events import Event, event_from_row
from chat.channels.policy import Actor, Role
from chat.store import models

MAX_PAGE = 1000


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    # The cursor to send next time: the last event returned, or, when the page
    # is not full, the newest event in the log (so invisible events are skipped once).
    last_event_id: int
    has_more: bool


async def latest_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(models.Event.id), 0))) or 0)


async def events_since(session: AsyncSession, actor: Actor, after: int, limit: int = 100) -> EventPage:
    """The events ``actor`` may see now with ``id > after``, oldest first."""
    limit = max(1, min(limit, MAX_PAGE))
    horizon = await latest_event_id(session)
    after = min(after, horizon)
    role = await session.scalar(select(models.User.role).where(models.User.id == actor.id))
    if role is not None and role != actor.role:
        actor = replace(actor, role=cast(Role, role))
    mine = select(models.Membership.conversation_id).where(models.Membership.user_id == actor.id)
    ev = models.Event
    msg = models.Message
    visible = or_(
        (ev.audience == "members")
        & ev.conversation_id.in_(mine)
        & or_(ev.message_id.is_(None), msg.conversation_id.in_(mine)),
        ev.subject_id == actor.id,
        (ev.audience == "everyone") & (false() if actor.is_guest else true()),
        (ev.audience == "staff") & (true() if actor.is_staff else false()),
    )
    rows = (
        await session.execute(
            select(ev, msg.deleted_at)
            .outerjoin(msg, msg.id == ev.message_id)
            .where(ev.id > after, ev.id <= horizon, visible)
            .order_by(ev.id)
            .limit(limit + 1)
        )
    ).all()
    has_more = len(rows) > limit
    # a deleted message's text is not served again, not even from its old events
    events = [event_from_row(row, withhold_body=deleted_at is not None) for row, deleted_at in rows[:limit]]
    last = events[-1].id if has_more else horizon
    return EventPage(events=events, last_event_id=last, has_more=has_more)

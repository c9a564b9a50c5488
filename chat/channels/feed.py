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
assigned under one advisory lock held until commit (``chat.domain.events``),
so every id below a committed id is already committed or will never exist.
Reading ``id > after`` therefore never skips a late commit.

How it is read (two statements; one when the cursor is at the newest event):
the reader's role, conversations and the newest event id, in one statement;
then a ``UNION ALL`` with one branch per way an event can be visible: the
events of each conversation of the reader (``ix_events_conversation_id_id``,
the moved-message filter inside the branch), the events whose subject is the
reader (``ix_events_subject_id_id``), the events for everyone unless the
reader is a guest, for staff if they are staff, for admins if they are admins
(``ix_events_audience_id``).
Each branch is an index range scan ``id > after ORDER BY id LIMIT n + 1``, the
merge keeps the first ``n + 1``, so a page costs what it returns, not the
length of the log since the cursor: a reader who sees few events no longer
walks every event after the cursor to find them (bench/README.md, finding 3).
The branches are disjoint (an event about the reader comes through the subject
branch only), so nothing is served twice. The moved-message filter reads the
reader's memberships in the second statement; on SQLite both statements share
one snapshot, on PostgreSQL (read committed) a membership changed between the
two can only make this one page follow either state, as the next one will.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    CompoundSelect,
    Integer,
    Select,
    bindparam,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from chat.domain.actors import Actor, Role
from chat.domain.events import Event, event_from_row
from chat.store import models

MAX_PAGE = 1000


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    # The cursor to send next time: the last event returned, or, when the page
    # is not full, the newest event in the log (so invisible events are skipped once).
    last_event_id: int
    has_more: bool


_LATEST = select(func.coalesce(func.max(models.Event.id), 0))  # every handshake asks: built once


async def latest_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(_LATEST) or 0)


async def events_since(session: AsyncSession, actor: Actor, after: int, limit: int = 100) -> EventPage:
    """The events ``actor`` may see now with ``id > after``, oldest first (two statements)."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = (
        await session.execute(
            select(_horizon(), models.User.role, models.Membership.conversation_id)
            .select_from(models.User)
            .outerjoin(models.Membership, models.Membership.user_id == models.User.id)
            .where(models.User.id == actor.id)
            .order_by(models.Membership.conversation_id)
        )
    ).all()
    horizon = int(rows[0][0]) if rows else await latest_event_id(session)
    role = rows[0][1] if rows else None
    if role is not None and role != actor.role:
        actor = replace(actor, role=cast(Role, role))
    after = min(after, horizon)
    if after >= horizon:
        return EventPage(events=[], last_event_id=horizon, has_more=False)
    mine = tuple(int(cid) for _, _, cid in rows if cid is not None)
    found = (
        await session.execute(
            _page(actor.is_guest, actor.is_staff, actor.is_admin, mine),
            {"after": after, "horizon": horizon, "me": actor.id, "limit": limit + 1},
        )
    ).all()
    has_more = len(found) > limit
    # a deleted message's text is not served again, not even from its old events
    events = [event_from_row(row, withhold_body=deleted_at is not None) for row, deleted_at in found[:limit]]
    last = events[-1].id if has_more else horizon
    return EventPage(events=events, last_event_id=last, has_more=has_more)


def _horizon() -> ScalarSelect[int]:
    return select(func.coalesce(func.max(models.Event.id), 0)).scalar_subquery()


_AFTER = bindparam("after", type_=BigInteger)
_HORIZON = bindparam("horizon", type_=BigInteger)
_ME = bindparam("me", type_=BigInteger)
_LIMIT = bindparam("limit", type_=Integer)
# A reader in more conversations than this reads the rest through one branch (``IN``), which
# the database may answer with a scan of the id range: correct, only slower. SQLite allows at
# most 500 terms in a compound SELECT.
MAX_CONVERSATION_BRANCHES = 100


def _fixed(value: str | int) -> BindParameter[Any]:
    """A value written into the statement, not sent as a parameter. PostgreSQL plans a
    statement it has run five times once for any parameters (a generic plan): an audience
    or a conversation id left as a parameter there makes it walk the primary key over the
    whole id range (43 ms instead of 0.6 at 110,000 events), which it never does for a
    value it can see."""
    return literal(value, literal_execute=True)


# ``audience`` in a form no index matches: SQLite, which has no statistics, would otherwise
# walk ``ix_events_audience_id`` over every conversation's events instead of this one's
_MEMBERS = func.coalesce(models.Event.audience, "") == _fixed("members")


@lru_cache(maxsize=256)
def _page(
    is_guest: bool, is_staff: bool, is_admin: bool, mine: tuple[int, ...]
) -> Select[models.Event, datetime | None]:
    """The page statement for a reader of this role and these conversations (built once: building
    it costs about as much CPU as running it)."""
    ev = models.Event
    msg = models.Message
    ids = _visible_ids(is_guest, is_staff, is_admin, mine).subquery()
    return (
        select(ev, msg.deleted_at)
        .outerjoin(msg, msg.id == ev.message_id)
        .where(ev.id.in_(select(ids.c.id).order_by(ids.c.id).limit(_LIMIT)))
        .order_by(ev.id)
    )


def _visible_ids(
    is_guest: bool, is_staff: bool, is_admin: bool, mine: tuple[int, ...]
) -> CompoundSelect[int] | Select[int]:
    """The ids of the first ``limit + 1`` visible events of each source, as one ``UNION ALL``.

    One branch per way an event can be visible, each an index range scan in id
    order with its own limit; the branches are disjoint (an event whose subject is
    the reader comes through the subject branch only), so no row is counted twice.
    """
    ev = models.Event
    msg = models.Message
    in_range = (ev.id > _AFTER) & (ev.id <= _HORIZON)
    not_mine = or_(ev.subject_id.is_(None), ev.subject_id != _ME)
    branches: list[Select[int]] = [select(ev.id).where(ev.subject_id == _ME, in_range)]
    if not is_guest:
        branches.append(select(ev.id).where(ev.audience == _fixed("everyone"), not_mine, in_range))
    if is_staff:
        branches.append(select(ev.id).where(ev.audience == _fixed("staff"), not_mine, in_range))
    if is_admin:
        branches.append(select(ev.id).where(ev.audience == _fixed("admins"), not_mine, in_range))
    member_of = select(models.Membership.conversation_id).where(models.Membership.user_id == _ME)
    own, rest = mine[:MAX_CONVERSATION_BRANCHES], mine[MAX_CONVERSATION_BRANCHES:]
    places = [ev.conversation_id == _fixed(cid) for cid in own] + (
        [ev.conversation_id.in_([_fixed(c) for c in rest])] if rest else []
    )
    for place in places:
        # a message moved into a conversation the reader cannot see takes its old events with it
        still_mine = or_(
            ev.message_id.is_(None), msg.conversation_id == ev.conversation_id, msg.conversation_id.in_(member_of)
        )
        branches.append(
            select(ev.id).outerjoin(msg, msg.id == ev.message_id).where(place, _MEMBERS, not_mine, in_range, still_mine)
        )
    limited = [select(b.order_by(ev.id).limit(_LIMIT).subquery().c.id) for b in branches]
    return limited[0] if len(limited) == 1 else union_all(*limited)

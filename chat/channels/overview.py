"""Every channel and group of the workspace, for admins (``GET /api/v1/admin/conversations``).

An admin manages conversations they are not in, so this list shows private
groups too, but only what managing them needs: name, description, member
count, owner, archived, default. Never a message, never a member's name.
Direct conversations are private correspondence: only their number is given.

Six statements whatever the page size: the two totals, the page, its member
counts, the admin's own memberships among them, their owners.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.policy import can_administer, owner_of
from chat.channels.queries import UserBrief, user_brief
from chat.domain.actors import Actor
from chat.errors import Forbidden
from chat.store import models

PAGE_MAX = 200


@dataclass(frozen=True)
class ManagedConversation:
    """A channel or group as an admin manages it (no content)."""

    id: int
    kind: Literal["public", "private"]
    name: str
    description: str
    archived: bool
    is_default: bool
    member_count: int
    owner: UserBrief | None  # None if the owner's account is gone
    created_at: datetime
    joined: bool  # the admin is a member


@dataclass(frozen=True)
class ConversationOverview:
    conversations: list[ManagedConversation]
    total: int  # channels and groups matching the filters
    direct_count: int  # direct conversations in the workspace (never listed)


@dataclass(frozen=True)
class OverviewFilter:
    q: str | None = None  # part of the name, any case
    kind: Literal["public", "private"] | None = None
    archived: bool | None = None
    is_default: bool | None = None
    limit: int = 50
    offset: int = 0


async def list_managed(session: AsyncSession, actor: Actor, wanted: OverviewFilter) -> ConversationOverview:
    """Channels and groups matching ``wanted``, by name; 403 ``admin_required`` for anyone but an admin."""
    if not can_administer(actor):
        raise Forbidden("admin_required", "only administrators may do this")
    c = models.Conversation
    where = [c.kind != "direct"]
    if wanted.q:
        where.append(c.name_key.contains(wanted.q.casefold(), autoescape=True))
    if wanted.kind is not None:
        where.append(c.kind == wanted.kind)
    if wanted.archived is not None:
        where.append(c.archived.is_(wanted.archived))
    if wanted.is_default is not None:
        where.append(c.is_default.is_(wanted.is_default))
    total = int(await session.scalar(select(func.count()).select_from(c).where(*where)) or 0)
    direct = int(await session.scalar(select(func.count()).select_from(c).where(c.kind == "direct")) or 0)
    rows = (
        await session.scalars(
            select(c).where(*where).order_by(c.name_key, c.id).limit(wanted.limit).offset(wanted.offset)
        )
    ).all()
    ids = [row.id for row in rows]
    m = models.Membership
    counts: dict[int, int] = {}
    mine: set[int] = set()
    owners: dict[int, models.User] = {}
    if ids:
        count_rows = await session.execute(
            select(m.conversation_id, func.count()).where(m.conversation_id.in_(ids)).group_by(m.conversation_id)
        )
        counts = {int(cid): int(n) for cid, n in count_rows.all()}
        mine = set(
            await session.scalars(select(m.conversation_id).where(m.conversation_id.in_(ids), m.user_id == actor.id))
        )
        owner_ids = {owner_of(row) for row in rows}
        owners = {u.id: u for u in await session.scalars(select(models.User).where(models.User.id.in_(owner_ids)))}
    listed = [
        ManagedConversation(
            id=row.id,
            kind=row.kind,  # type: ignore[arg-type]
            name=row.name or "",
            description=row.description,
            archived=row.archived,
            is_default=row.is_default,
            member_count=counts.get(row.id, 0),
            owner=user_brief(owners[owner_of(row)]) if owner_of(row) in owners else None,
            created_at=row.created_at,
            joined=row.id in mine,
        )
        for row in rows
    ]
    return ConversationOverview(listed, total, direct)

"""The admins' view of the accounts (``/admin/users``): search, role, status, last activity.

Unlike the directory (``chat.accounts.directory``) it lists deactivated
accounts and bots too, and says when each account last did something: the time
of its newest event in the log (one indexed lookup per listed account, on
``ix_events_actor_id_id``), or nothing if it never acted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.results import UserInfo
from chat.channels import policy
from chat.domain.actors import Actor
from chat.errors import Forbidden
from chat.store import models

MAX_LISTED = 200


@dataclass(frozen=True)
class Account:
    user: UserInfo
    last_active_at: datetime | None  # its newest event; None if it never acted


@dataclass(frozen=True)
class Roster:
    accounts: list[Account]
    more: bool  # more accounts match than were listed: narrow the search


async def list_accounts(session: AsyncSession, actor: Actor, *, search: str = "") -> Roster:
    """Accounts whose username or display name contains ``search`` (any case), by username.

    403 ``admin_required`` for anyone but an admin."""
    if not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may list accounts")
    u = models.User
    last = (
        select(models.Event.created_at)
        .where(models.Event.actor_id == u.id)
        .order_by(models.Event.id.desc())
        .limit(1)
        .correlate(u)
        .scalar_subquery()
    )
    query = select(u, last).order_by(u.username).limit(MAX_LISTED + 1)
    needle = search.strip().lower()
    if needle:
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(u.username.like(pattern, escape="\\"), func.lower(u.display_name).like(pattern, escape="\\"))
        )
    rows = (await session.execute(query)).all()
    accounts = [Account(UserInfo.of(user), when) for user, when in rows[:MAX_LISTED]]
    return Roster(accounts=accounts, more=len(rows) > MAX_LISTED)

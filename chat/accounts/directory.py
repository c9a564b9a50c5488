"""The user directory (``GET /api/v1/users``): read side only.

Everyone but a guest sees every active user (humans and bots). A guest sees
only the people they share a conversation with, and themselves. Admins may
also list deactivated accounts (to reactivate them).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.results import UserInfo, UserList
from chat.channels import policy
from chat.channels.policy import Actor
from chat.errors import Forbidden, Unauthorized
from chat.store import models


async def list_users(session: AsyncSession, actor: Actor, *, include_inactive: bool = False) -> UserList:
    if include_inactive and not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may list deactivated users")
    query = select(models.User).order_by(models.User.username)
    if not include_inactive:
        query = query.where(models.User.active.is_(True))
    if policy.directory_scope(actor) == "shared":
        mine = select(models.Membership.conversation_id).where(models.Membership.user_id == actor.id)
        shared = select(models.Membership.user_id).where(models.Membership.conversation_id.in_(mine))
        query = query.where(models.User.id.in_(shared) | (models.User.id == actor.id))
    users = (await session.scalars(query)).all()
    return UserList(users=[UserInfo.of(u) for u in users])


async def get_me(session: AsyncSession, actor: Actor) -> UserInfo:
    user = await session.get(models.User, actor.id)
    if user is None:  # pragma: no cover - the actor was loaded from this row a moment ago
        raise Unauthorized("not_authenticated")
    return UserInfo.of(user)

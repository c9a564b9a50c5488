"""Users: create, look up, change role, deactivate."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.passwords import hash_password_async
from chat.channels.events import append_event
from chat.channels.policy import Actor, Role
from chat.errors import Conflict
from chat.store import models


def actor_of(user: models.User) -> Actor:
    return Actor(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,  # type: ignore[arg-type]
        is_bot=user.is_bot,
    )


def user_public(user: models.User) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "is_bot": user.is_bot,
        "active": user.active,
    }


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str | None,
    role: Role = "member",
    display_name: str | None = None,
    actor_id: int | None = None,
    bot_owner_id: int | None = None,
) -> models.User:
    """Insert a user and its ``user.created`` event. ``password=None`` makes a bot."""
    key = username.lower()
    exists = await session.scalar(select(func.count()).select_from(models.User).where(models.User.username == key))
    if exists:
        raise Conflict("username_taken", f"the username {key!r} is taken")
    user = models.User(
        username=key,
        display_name=display_name or username,
        password_hash=await hash_password_async(password) if password is not None else None,
        role=role,
        is_bot=password is None,
        bot_owner_id=bot_owner_id,
        active=True,
        preferences={},
        created_at=models.utcnow(),
    )
    session.add(user)
    await session.flush()
    await append_event(
        session,
        kind="user.created",
        actor_id=actor_id if actor_id is not None else user.id,
        subject_id=user.id,
        audience="everyone",
        data={"user": user_public(user)},
    )
    return user

"""Users: create, look up, change your profile; admins change roles and (de)activate.

Every change appends exactly one event in the caller's transaction:
``user.created``, ``user.updated`` (display name), ``user.password_changed``
(audience ``subject``), ``user.role_changed``, ``user.deactivated``,
``user.reactivated`` (audience ``everyone``), ``user.sessions_reset``
(audience ``staff``). Events never carry a password or its hash.

Deactivation deletes the user's sessions; authentication refuses inactive
users, so their tokens stop working too (and work again on reactivation;
revoke a token explicitly if it leaked); the realtime hub closes every socket
of the user on ``user.deactivated``. Resetting a user's sessions
(:func:`reset_sessions`) logs them out of every browser: their sessions are
deleted and the hub closes the sockets opened with them (tokens stay).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.commands import Register, UpdateMe, UpdateUser
from chat.accounts.credentials import session_tag
from chat.accounts.directory import check_user_names
from chat.accounts.passwords import hash_password_async, verify_password_async
from chat.accounts.results import UserInfo
from chat.channels import policy
from chat.channels.names import confusable_key
from chat.domain.actors import Actor, Role
from chat.domain.events import append_event
from chat.errors import Conflict, Forbidden, Invalid, NotFound
from chat.store import models

# Names that would collide with wildcard mentions or read as the system.
MAX_ID = 2**63 - 1  # ids beyond a PostgreSQL bigint cannot exist

RESERVED_USERNAMES = frozenset({"all", "everyone", "here", "topic", "channel", "stream", "system", "salon"})
_RESERVED_LOOKS = frozenset(confusable_key(name) for name in RESERVED_USERNAMES)
ERASED_PREFIX = "erased-"  # the pseudonyms of erased accounts (chat.accounts.erasure): nobody registers one


def actor_of(user: models.User) -> Actor:
    return Actor(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,  # type: ignore[arg-type]
        is_bot=user.is_bot,
    )


# What an Actor is made of, for lookups that need nothing else of the user (authentication)
ACTOR_COLUMNS = (
    models.User.id,
    models.User.username,
    models.User.display_name,
    models.User.role,
    models.User.is_bot,
)


def actor_from_row(row: Row[*tuple[Any, ...]]) -> Actor:
    """The Actor of a row that starts with :data:`ACTOR_COLUMNS`."""
    return Actor(id=row[0], username=row[1], display_name=row[2], role=row[3], is_bot=row[4])


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
    email: str | None = None,
    event_data: dict[str, object] | None = None,
    reserved_ok: bool = False,
) -> models.User:
    """Insert a user and its ``user.created`` event. ``password=None`` makes a bot.

    Usernames are unique case-insensitively (stored lower case): 409 ``username_taken``;
    names that read like another user's are refused too (``check_user_names``).
    ``reserved_ok``: the server's own accounts (``salon``, see ``chat.accounts.moderation``).
    """
    key = username.lower()
    # "a1l" would read as the wildcard mention @all; "erased-7" as an erased account
    if not reserved_ok and (confusable_key(key) in _RESERVED_LOOKS or key.startswith(ERASED_PREFIX)):
        raise Invalid("username_reserved", f"the username {key!r} is reserved", field="username")
    shown = display_name or username
    await check_user_names(session, username=key, display_name=display_name if display_name else None)
    user = models.User(
        username=key,
        display_name=shown,
        username_skeleton=confusable_key(key),
        display_skeleton=confusable_key(shown),
        password_hash=await hash_password_async(password) if password is not None else None,
        role=role,
        is_bot=password is None,
        bot_owner_id=bot_owner_id,
        active=True,
        email=email,
        preferences={},
        created_at=models.utcnow(),
    )
    try:
        async with session.begin_nested():  # a concurrent insert of the same name loses here
            session.add(user)
            await session.flush()
    except IntegrityError:
        raise Conflict("username_taken", f"the username {key!r} is taken", field="username") from None
    await append_event(
        session,
        kind="user.created",
        actor_id=actor_id if actor_id is not None else user.id,
        subject_id=user.id,
        audience="everyone",
        data={"user": user_public(user), **(event_data or {})},
    )
    return user


async def get_user(session: AsyncSession, user_id: int, *, for_update: bool = False) -> models.User:
    """The user with this id, or 404 ``user_not_found``."""
    if not 0 < user_id <= MAX_ID:
        raise NotFound("user_not_found", "no such user")
    user = await session.get(models.User, user_id, with_for_update=for_update or None, populate_existing=for_update)
    if user is None:
        raise NotFound("user_not_found", "no such user")
    return user


async def has_users(session: AsyncSession) -> bool:
    """Whether any account exists (a fresh install has none and asks for its first admin)."""
    return await session.scalar(select(models.User.id).limit(1)) is not None


async def get_user_by_name(session: AsyncSession, username: str) -> models.User | None:
    return await session.scalar(select(models.User).where(models.User.username == username.strip().lower()))


async def create_admin(
    session: AsyncSession, username: str, password: str, display_name: str | None = None
) -> UserInfo:
    """An admin account from the operator's console (``chat create-admin``): no actor, no registration mode."""
    cmd = Register(username=username, password=password, display_name=display_name)
    user = await create_user(
        session,
        username=cmd.username,
        password=cmd.password,
        role="admin",
        display_name=cmd.display_name,
        event_data={"via": "cli"},
    )
    return UserInfo.of(user)


async def update_me(session: AsyncSession, actor: Actor, cmd: UpdateMe, *, keep_session: str | None = None) -> UserInfo:
    """Change your display name and/or password; one event per change.

    A password change needs the current password (403 ``wrong_password``) and
    ends every other session of the user (``keep_session`` is the caller's).
    """
    user = await get_user(session, actor.id, for_update=True)
    if cmd.password is not None:
        ok, _ = await verify_password_async(cmd.current_password or "", user.password_hash)
        if not ok:
            raise Forbidden("wrong_password", "the current password is wrong", field="current_password")
        user.password_hash = await hash_password_async(cmd.password)
        others = delete(models.WebSession).where(models.WebSession.user_id == user.id)
        if keep_session is not None:
            others = others.where(models.WebSession.id != keep_session)
        await session.execute(others)
        await append_event(
            session,
            kind="user.password_changed",
            actor_id=actor.id,
            subject_id=user.id,
            audience="subject",
            # names the session left alive: the hub closes the sockets of every other one
            data={"user_id": user.id, "kept_session": session_tag(keep_session) if keep_session else None},
        )
    if cmd.display_name is not None and cmd.display_name != user.display_name:
        await check_user_names(session, display_name=cmd.display_name, user_id=user.id)
        user.display_name = cmd.display_name
        user.display_skeleton = confusable_key(cmd.display_name)
        await session.flush()
        await append_event(
            session,
            kind="user.updated",
            actor_id=actor.id,
            subject_id=user.id,
            audience="everyone",
            data={"user_id": user.id, "display_name": user.display_name},
        )
    await session.flush()
    return UserInfo.of(user)


async def update_user(session: AsyncSession, actor: Actor, user_id: int, cmd: UpdateUser) -> UserInfo:
    """Admin: change a user's role or active flag (403 ``admin_required``, 404, 409 ``last_admin``)."""
    if not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may change users")
    # Lock the admin rows first (id order), then the target: two admins demoting each
    # other at once serialise here instead of both succeeding or deadlocking.
    admins = await _lock_active_admins(session) if cmd.role is not None or cmd.active is False else []
    user = await get_user(session, user_id, for_update=True)
    removes_admin = user.role == "admin" and user.active and (cmd.role not in (None, "admin") or cmd.active is False)
    if removes_admin and set(admins) <= {user.id}:
        raise Conflict("last_admin", "this is the last active administrator; appoint another first")
    if cmd.role is not None and cmd.role != user.role:
        previous, user.role = user.role, cmd.role
        await session.flush()
        await append_event(
            session,
            kind="user.role_changed",
            actor_id=actor.id,
            subject_id=user.id,
            audience="everyone",
            data={"user_id": user.id, "role": user.role, "previous_role": previous},
        )
    elif cmd.active is not None and cmd.active != user.active:
        if not cmd.active:
            await session.execute(delete(models.WebSession).where(models.WebSession.user_id == user.id))
        user.active = cmd.active
        await session.flush()
        await append_event(
            session,
            kind="user.reactivated" if user.active else "user.deactivated",
            actor_id=actor.id,
            subject_id=user.id,
            audience="everyone",
            data={"user_id": user.id},
        )
    return UserInfo.of(user)


async def reset_sessions(session: AsyncSession, actor: Actor, user_id: int) -> int:
    """Admin: end every login session of a user (``user.sessions_reset``); returns how many ended.

    403 ``admin_required``, 404 ``user_not_found``. The event is written even when no
    session was open, so the log shows the admin's action."""
    if not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may reset another user's sessions")
    user = await get_user(session, user_id, for_update=True)
    result = await session.execute(delete(models.WebSession).where(models.WebSession.user_id == user.id))
    ended = int(getattr(result, "rowcount", 0) or 0)
    await append_event(
        session,
        kind="user.sessions_reset",
        actor_id=actor.id,
        subject_id=user.id,
        audience="admins",
        data={"user_id": user.id, "sessions": ended},
    )
    return ended


async def _lock_active_admins(session: AsyncSession) -> list[int]:
    """The active human admins' ids, their rows locked (``FOR UPDATE`` on PostgreSQL)."""
    ids = await session.scalars(
        select(models.User.id)
        .where(models.User.role == "admin", models.User.active.is_(True), models.User.is_bot.is_(False))
        .order_by(models.User.id)
        .with_for_update()
    )
    return list(ids)

"""The user directory (``GET /api/v1/users``), and whether a user name is free.

Everyone but a guest sees every active user (humans and bots). A guest sees
only the people they share a conversation with, and themselves. Admins may
also list deactivated accounts (to reactivate them). Each user carries
``do_not_disturb_until`` (``chat.accounts.results.DirectoryUser``), computed as the list is read.

``check_user_names`` is the one check of a new username or display name
against every other account, active or not (impersonating someone who left
is still impersonation): a username taken exactly (``username_taken``), a
username or display name that reads like another user's username or display
name (``username_confusable``, ``display_name_confusable``: the same
``chat.channels.names.confusable_key``), and a display name equal, without
regard to case, to another user's (``display_name_taken``). Two people may
not share a display name: mentions and author lines show display names, and a
duplicate is the easiest impersonation (docs/architecture.md, "Names").
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.results import DirectoryUser, UserInfo, UserList
from chat.channels import policy
from chat.channels.names import confusable_key
from chat.domain.actors import Actor
from chat.errors import Conflict, Forbidden, Unauthorized
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
    now = datetime.now(UTC)  # one moment for everyone's do-not-disturb mark
    return UserList(users=[DirectoryUser.listed(u, now=now) for u in users])


async def get_me(session: AsyncSession, actor: Actor) -> UserInfo:
    user = await session.get(models.User, actor.id)
    if user is None:  # pragma: no cover - the actor was loaded from this row a moment ago
        raise Unauthorized("not_authenticated")
    return UserInfo.of(user)


async def check_user_names(
    session: AsyncSession, *, username: str | None = None, display_name: str | None = None, user_id: int | None = None
) -> None:
    """Refuse a new ``username`` (lower case) or ``display_name`` that another account has or looks like.

    ``user_id``: the account being changed (its own names never conflict).
    One query over the indexed skeleton columns and the two exact forms.
    """
    u = models.User
    wanted: list[tuple[str, str]] = []  # (field, name)
    if username is not None:
        wanted.append(("username", username))
    if display_name is not None:
        wanted.append(("display_name", display_name))
    looks = {confusable_key(name) for _field, name in wanted}
    clauses: list[ColumnElement[bool]] = [u.username_skeleton.in_(looks), u.display_skeleton.in_(looks)]
    if username is not None:
        clauses.append(u.username == username)
    if display_name is not None:
        clauses += [func.lower(u.display_name) == display_name.lower(), u.username == display_name.lower()]
    query = select(u.username, u.display_name, u.username_skeleton, u.display_skeleton).where(or_(*clauses))
    if user_id is not None:
        query = query.where(u.id != user_id)
    others = (await session.execute(query.order_by(u.id).limit(20))).all()
    for field, name in wanted:
        if field == "username" and any(other.username == name for other in others):
            raise Conflict("username_taken", f"the username {name!r} is taken", field="username")
        if field == "display_name" and any(name.casefold() in (o.display_name.casefold(), o.username) for o in others):
            raise Conflict(
                "display_name_taken", "another user has this name; add something to tell you apart", field=field
            )
        look = confusable_key(name)
        if any(look in (other.username_skeleton, other.display_skeleton) for other in others):
            raise Conflict(
                f"{field}_confusable",
                f"{name!r} looks like another user's name; choose one that reads differently",
                field=field,
            )

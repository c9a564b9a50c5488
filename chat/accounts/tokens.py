"""API tokens (personal and bot): ``salon_<random>``, shown once, stored as SHA-256.

``Authorization: Bearer <token>`` authenticates on every API route. A token
works while it is not revoked and its user is active. Events:
``token.created`` and ``token.revoked`` (audience ``subject``; never the token).
``token.revoked`` names the token by ``token_id``: the realtime hub closes the
sockets opened with that token (close code 4001) on every server process.

``last_used_at`` says when a token last authenticated, to within
:data:`USE_RECORDED_EVERY` (:func:`record_token_use`): recording every request
would add a write to every read. It is bookkeeping, not a state change: no event.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.commands import CreateToken, NewBot
from chat.accounts.results import BotCreated, TokenCreated, TokenInfo, TokenList, UserInfo
from chat.accounts.users import ACTOR_COLUMNS, MAX_ID, actor_from_row, actor_of, create_user, get_user, get_user_by_name
from chat.channels import policy
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Forbidden, Invalid, NotFound
from chat.store import models

TOKEN_PREFIX = "salon_"  # noqa: S105 - not a secret: the visible start of every token
_SHOWN_CHARS = 12  # "salon_" and six random characters: enough to tell tokens apart in a list
_MAX_TOKEN_CHARS = 128
USE_RECORDED_EVERY = timedelta(minutes=5)


class TokenAuth(NamedTuple):
    """The active user behind a token, the token's id (what ``token.revoked`` names), its last use."""

    actor: Actor
    token_id: int
    last_used_at: datetime | None


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_token(
    session: AsyncSession, actor: Actor, cmd: CreateToken, *, for_user: int | None = None
) -> TokenCreated:
    """A new token for ``actor`` (or, ``for_user``, for a bot they manage: the caller checked);
    the result holds the raw token, shown once."""
    owner = actor.id if for_user is None else for_user
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = models.ApiToken(
        user_id=owner,
        name=cmd.name,
        token_hash=token_hash(raw),
        prefix=raw[:_SHOWN_CHARS],
        created_at=models.utcnow(),
    )
    session.add(row)
    await session.flush()
    await append_event(
        session,
        kind="token.created",
        actor_id=actor.id,
        subject_id=owner,
        audience="subject",
        data={"token_id": row.id, "name": row.name},
    )
    return TokenCreated(id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at, token=raw)


async def issue_token(session: AsyncSession, actor: Actor, name: str) -> str:
    """A new token for ``actor`` (a user or a bot); returns the raw token."""
    return (await create_token(session, actor, CreateToken(name=name))).token


async def list_tokens(session: AsyncSession, actor: Actor) -> TokenList:
    """The actor's tokens that are not revoked, without their secrets."""
    rows = (
        await session.scalars(
            select(models.ApiToken)
            .where(models.ApiToken.user_id == actor.id, models.ApiToken.revoked_at.is_(None))
            .order_by(models.ApiToken.id)
        )
    ).all()
    return TokenList(
        tokens=[
            TokenInfo(id=r.id, name=r.name, prefix=r.prefix, created_at=r.created_at, last_used_at=r.last_used_at)
            for r in rows
        ]
    )


async def revoke_token(session: AsyncSession, actor: Actor, token_id: int, *, of_user: int | None = None) -> None:
    """Revoke one of your tokens, or (``of_user``) of a bot you manage (the caller checked):
    404 ``token_not_found`` for another user's, a revoked or an unknown id."""
    owner = actor.id if of_user is None else of_user
    if not 0 < token_id <= MAX_ID:
        raise NotFound("token_not_found", "no such token")
    row = await session.scalar(
        select(models.ApiToken).where(
            models.ApiToken.id == token_id, models.ApiToken.user_id == owner, models.ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        raise NotFound("token_not_found", "no such token")
    row.revoked_at = models.utcnow()
    await session.flush()
    await append_event(
        session,
        kind="token.revoked",
        actor_id=actor.id,
        subject_id=owner,
        audience="subject",
        data={"token_id": row.id, "name": row.name},
    )


async def actor_for_token(session: AsyncSession, raw: str) -> Actor | None:
    """The active user behind a raw token; None if unknown, revoked or the user is inactive."""
    found = await token_actor(session, raw)
    return found[0] if found is not None else None


async def token_actor(session: AsyncSession, raw: str) -> TokenAuth | None:
    """The active user behind a raw token, with the token's id and when it was last used."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > _MAX_TOKEN_CHARS:
        return None
    row = (await session.execute(_LIVE_TOKEN, {"hash": token_hash(raw)})).first()
    return TokenAuth(actor_from_row(row), int(row[-2]), row[-1]) if row is not None else None


def use_worth_recording(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a use at ``now`` should be written (the stored one is missing or older than the interval)."""
    return last_used_at is None or last_used_at <= now - USE_RECORDED_EVERY


async def record_token_use(session: AsyncSession, token_id: int) -> None:
    """Set ``last_used_at`` to now, unless another request recorded a use within the interval."""
    now = models.utcnow()
    await session.execute(
        update(models.ApiToken)
        .where(
            models.ApiToken.id == token_id,
            or_(models.ApiToken.last_used_at.is_(None), models.ApiToken.last_used_at <= now - USE_RECORDED_EVERY),
        )
        .values(last_used_at=now)
    )


# Every request and every socket handshake authenticates: built once, and it reads only what
# an Actor holds (no User entity to load).
_LIVE_TOKEN = (
    select(*ACTOR_COLUMNS, models.ApiToken.id, models.ApiToken.last_used_at)
    .join(models.ApiToken, models.ApiToken.user_id == models.User.id)
    .where(
        models.ApiToken.token_hash == bindparam("hash"),
        models.ApiToken.revoked_at.is_(None),
        models.User.active.is_(True),
    )
)


async def create_bot(
    session: AsyncSession,
    actor: Actor | None,
    name: str,
    owner: Actor | int | str,
    *,
    display_name: str | None = None,
) -> BotCreated:
    """A bot account owned by ``owner`` (an Actor, a user id or a username), and its first token.

    ``actor=None`` is the operator at the console (``chat create-bot``); otherwise
    the actor must be an admin or the owner. The owner is an active human, not a guest.
    Two events: ``user.created`` and ``token.created``.
    """
    cmd = NewBot(username=name, display_name=display_name)
    owner_user = await _load_owner(session, owner)
    if owner_user is None:
        raise NotFound("user_not_found", "the owner does not exist", field="owner")
    if not policy.can_own_bot(owner_user.role, owner_user.is_bot, owner_user.active):
        raise Invalid(
            "bad_owner", "a bot's owner must be an active user who is neither a guest nor a bot", field="owner"
        )
    if actor is not None and not (policy.can_manage_users(actor) or actor.id == owner_user.id):
        raise Forbidden("forbidden", "you may create bots only for yourself")
    bot = await create_user(
        session,
        username=cmd.username,
        password=None,
        role="member",
        display_name=cmd.display_name,
        actor_id=actor.id if actor is not None else owner_user.id,
        bot_owner_id=owner_user.id,
        event_data={"owner_id": owner_user.id, **({"via": "cli"} if actor is None else {})},
    )
    raw = await issue_token(session, actor_of(bot), f"{bot.username} token")
    return BotCreated(user=UserInfo.of(bot), owner_id=owner_user.id, token=raw)


async def _load_owner(session: AsyncSession, owner: Actor | int | str) -> models.User | None:
    if isinstance(owner, Actor):
        owner = owner.id
    if isinstance(owner, int):
        try:
            return await get_user(session, owner)
        except NotFound:
            return None
    return await get_user_by_name(session, owner)

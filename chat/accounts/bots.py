"""Bots as their owners and the admins manage them: list, issue a token, revoke a token.

A bot is an account without a password (``chat.accounts.tokens.create_bot``)
owned by a human; it authenticates only with its tokens. Its owner and every
admin (``policy.can_manage_bot``) see its tokens (never their secrets: a new
token is shown once, when issued), issue one and revoke one. Deactivating a
bot is deactivating its account (``PATCH /api/v1/users/{id}``, admins), which
stops all its tokens and closes its sockets.

Events: ``token.created`` and ``token.revoked`` (actor: who did it; subject:
the bot, so the hub closes the sockets opened with a revoked token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chat.accounts.commands import CreateToken
from chat.accounts.results import TokenCreated, UserInfo
from chat.accounts.tokens import create_token, revoke_token
from chat.accounts.users import MAX_ID
from chat.channels import policy
from chat.domain.actors import Actor
from chat.errors import NotFound
from chat.store import models


@dataclass(frozen=True)
class BotToken:
    """A bot's token without its secret; ``revoked_at`` set once revoked."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class BotInfo:
    user: UserInfo
    owner_id: int | None
    owner_username: str | None
    tokens: list[BotToken]


@dataclass(frozen=True)
class BotList:
    bots: list[BotInfo]


def bot_not_found() -> NotFound:
    return NotFound("bot_not_found", "no such bot")


async def list_bots(session: AsyncSession, actor: Actor) -> BotList:
    """Admins: every bot; anyone else: the bots they own. Each with its owner and all its tokens."""
    owner = aliased(models.User)
    query = (
        select(models.User, owner.username)
        .outerjoin(owner, owner.id == models.User.bot_owner_id)
        .where(models.User.is_bot.is_(True))
        .order_by(models.User.username)
    )
    if not policy.can_manage_users(actor):  # admins see every bot
        query = query.where(models.User.bot_owner_id == actor.id)
    bots = (await session.execute(query)).all()
    ids = [bot.id for bot, _ in bots]
    tokens: dict[int, list[BotToken]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            select(models.ApiToken).where(models.ApiToken.user_id.in_(ids)).order_by(models.ApiToken.id)
        )
        for t in rows:
            tokens[t.user_id].append(BotToken(t.id, t.name, t.prefix, t.created_at, t.last_used_at, t.revoked_at))
    return BotList(bots=[BotInfo(UserInfo.of(bot), bot.bot_owner_id, name, tokens[bot.id]) for bot, name in bots])


async def issue_bot_token(session: AsyncSession, actor: Actor, bot_id: int, cmd: CreateToken) -> TokenCreated:
    """A new token for a bot (its owner or an admin); shown once. 404 ``bot_not_found``."""
    bot = await access_bot(session, actor, bot_id)
    return await create_token(session, actor, cmd, for_user=bot.id)


async def revoke_bot_token(session: AsyncSession, actor: Actor, bot_id: int, token_id: int) -> None:
    """Revoke one of a bot's tokens (its owner or an admin). 404 ``bot_not_found``, ``token_not_found``."""
    bot = await access_bot(session, actor, bot_id)
    await revoke_token(session, actor, token_id, of_user=bot.id)


async def access_bot(session: AsyncSession, actor: Actor, bot_id: int) -> models.User:
    """An active bot the actor manages, or 404 ``bot_not_found`` (also for one they may not see)."""
    if not 0 < bot_id <= MAX_ID:
        raise bot_not_found()
    bot = await session.get(models.User, bot_id)
    if bot is None or not bot.is_bot or not policy.can_manage_bot(actor, bot.bot_owner_id):
        raise bot_not_found()
    return bot

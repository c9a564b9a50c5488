"""API tokens and bots."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chat.accounts.commands import UpdateUser
from chat.accounts.tokens import actor_for_token, create_bot, issue_token, list_tokens, revoke_token, token_hash
from chat.accounts.users import update_user
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id
from tests.factories import Cast


async def token_for(db: Database, actor: Actor, name: str = "ci") -> str:
    async with db.transaction() as s:
        return await issue_token(s, actor, name)


async def who(db: Database, raw: str) -> str | None:
    async with db.read() as s:
        actor = await actor_for_token(s, raw)
    return actor.username if actor is not None else None


async def test_a_token_is_shown_once_and_stored_hashed(db: Database, cast: Cast) -> None:
    mark = await last_event_id(db)
    raw = await token_for(db, cast.bob, "deploy script")
    assert raw.startswith("salon_") and len(raw) > 40
    async with db.read() as s:
        row = (await s.scalars(select(models.ApiToken))).one()
    assert row.token_hash == token_hash(raw) and raw not in (row.token_hash, row.prefix)
    assert raw.startswith(row.prefix) and row.name == "deploy script"
    assert await who(db, raw) == "bob"
    (event,) = await events_after(db, mark)
    assert (event.kind, event.audience, event.subject_id) == ("token.created", "subject", cast.bob.id)
    assert raw not in str(event.payload) and row.token_hash not in str(event.payload)


async def test_listing_shows_no_secret_and_revoking_works(db: Database, cast: Cast) -> None:
    raw = await token_for(db, cast.bob, "one")
    await token_for(db, cast.bob, "two")
    await token_for(db, cast.carol, "carols")
    async with db.read() as s:
        listed = await list_tokens(s, cast.bob)
    assert [t.name for t in listed.tokens] == ["one", "two"]
    assert raw not in str(listed)
    first = listed.tokens[0].id
    mark = await last_event_id(db)
    async with db.transaction() as s:
        await revoke_token(s, cast.bob, first)
    assert await who(db, raw) is None
    assert [e.kind for e in await events_after(db, mark)] == ["token.revoked"]
    async with db.read() as s:
        assert [t.name for t in (await list_tokens(s, cast.bob)).tokens] == ["two"]


async def test_revoking_someone_elses_or_a_revoked_token_is_not_found(db: Database, cast: Cast) -> None:
    await token_for(db, cast.carol)
    async with db.read() as s:
        carols = (await list_tokens(s, cast.carol)).tokens[0].id
    before = await counts(db)
    for token_id in (carols, 424242, 2**70):
        with pytest.raises(ChatError) as refused:
            async with db.transaction() as s:
                await revoke_token(s, cast.bob, token_id)
        assert (refused.value.status, refused.value.code) == (404, "token_not_found")
    assert await counts(db) == before


async def test_tokens_stop_working_while_the_user_is_deactivated(db: Database, cast: Cast) -> None:
    raw = await token_for(db, cast.bob)
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.bob.id, UpdateUser(active=False))
    assert await who(db, raw) is None
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.bob.id, UpdateUser(active=True))
    assert await who(db, raw) == "bob"


async def test_garbage_tokens_find_nobody(db: Database, cast: Cast) -> None:
    for raw in ("", "salon_", "salon_nope", "Bearer x", "salon_" + "a" * 500):
        assert await who(db, raw) is None


async def test_the_console_creates_a_bot_with_a_working_token(db: Database, cast: Cast) -> None:
    mark = await last_event_id(db)
    async with db.transaction() as s:
        created = await create_bot(s, None, "Deploy-Bot", "bob")
    assert created.user.is_bot and created.user.username == "deploy-bot" and created.owner_id == cast.bob.id
    assert await who(db, created.token) == "deploy-bot"
    assert [e.kind for e in await events_after(db, mark)] == ["user.created", "token.created"]
    async with db.read() as s:
        bot = await s.get(models.User, created.user.id)
    assert bot is not None and bot.bot_owner_id == cast.bob.id and bot.password_hash is None


async def test_bot_rules(db: Database, cast: Cast) -> None:
    async with db.transaction() as s:
        mine = await create_bot(s, cast.carol, "carols-bot", cast.carol)
        by_admin = await create_bot(s, cast.alice, "bobs-bot", cast.bob.id)
    assert (mine.owner_id, by_admin.owner_id) == (cast.carol.id, cast.bob.id)
    before = await counts(db)
    for actor, name, owner, code in (
        (cast.carol, "sneaky", cast.bob, "forbidden"),
        (None, "guests-bot", "gus", "bad_owner"),
        (None, "bots-bot", "robot", "bad_owner"),
        (None, "ghosts-bot", "ghost", "user_not_found"),
        (None, "x", "bob", "too_short"),
        (None, "bad name", "bob", "bad_format"),
        (None, "carols-bot", "bob", "username_taken"),
    ):
        with pytest.raises(ChatError) as refused:
            async with db.transaction() as s:
                await create_bot(s, actor, name, owner)
        assert refused.value.code == code, name
    assert await counts(db) == before

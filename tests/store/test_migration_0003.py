"""Migration 0003 on existing data: every name gets its confusable key, old look-alikes stay, nothing is lost.

On SQLite the two tables are rebuilt with foreign keys off; the memberships
and web sessions that refer to them (``ON DELETE CASCADE``) must all survive.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation
from chat.channels.names import confusable_key
from chat.domain.actors import Actor
from chat.store import models
from chat.store.db import Database
from chat.store.migrate import current_revision, head_revision, upgrade
from tests.channels import old_rows
from tests.store.test_migrations import empty_url  # noqa: F401 - the fixture: a fresh database per backend

CYRILLIC_SALES = "\u0405\u0430l\u0435\u0455"


async def test_existing_names_get_their_keys_and_keep_their_rows(empty_url: str) -> None:  # noqa: F811
    engine = create_async_engine(empty_url)
    await upgrade(engine, "0002")
    await old_rows.add_user(engine, 1, "alice", "Alice", role="admin")
    await old_rows.add_user(engine, 2, "bob", "Bob")
    await old_rows.add_user(engine, 3, "b0b", "B\u043eb")  # already a look-alike of bob: kept
    await old_rows.add_conversation(engine, 1, "public", "Sales", [1, 2, 3])
    await old_rows.add_conversation(engine, 2, "public", CYRILLIC_SALES, [1])  # an old look-alike: kept
    await old_rows.add_conversation(engine, 3, "private", "Board", [1])
    await old_rows.add_message(engine, 1, 1, 2, "Q3", "before the upgrade")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO web_sessions (id, user_id, csrf_token, created_at, expires_at, address, user_agent)"
                " VALUES ('s1', 2, 'c', :t, :t, '', '')"
            ),
            {"t": old_rows.NOW},
        )
    await old_rows.fix_sequences(engine)
    await engine.dispose()

    db = Database(empty_url)
    try:
        await upgrade(db.engine)
        assert await current_revision(db.engine) == head_revision()
        async with db.read() as s:
            u = models.User
            users = (await s.execute(select(u.id, u.username_skeleton, u.display_skeleton).order_by(u.id))).all()
            names = dict((await s.execute(select(models.Conversation.id, models.Conversation.name_skeleton))).all())
            memberships = await s.scalar(select(func.count()).select_from(models.Membership))
            sessions = await s.scalar(select(func.count()).select_from(models.WebSession))
            messages = await s.scalar(select(func.count()).select_from(models.Message))
        assert [tuple(u) for u in users] == [(1, "alice", "alice"), (2, "bob", "bob"), (3, "bob", "bob")]
        assert names == {1: "sales", 2: "sales", 3: confusable_key("Board")}
        assert (memberships, sessions, messages) == (5, 1, 1)
        if db.engine.dialect.name == "sqlite":
            async with db.engine.connect() as conn:
                assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all() == []
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1

        # after the upgrade: a private group may take a public channel's name, a public channel may not
        alice, bob = Actor(1, "alice", "Alice", "admin"), Actor(2, "bob", "Bob", "member")
        async with db.transaction() as s:
            group = await create_conversation(s, bob, CreateConversation(kind="private", name="board"))
        assert group.name == "board"
        async with db.transaction() as s:
            channel = await create_conversation(s, alice, CreateConversation(kind="public", name="Marketing"))
        assert channel.kind == "public"
        # the constraint itself: one public channel per name key, any number of groups
        insert = text(
            "INSERT INTO conversations (kind, name, name_key, description, created_by, created_at, archived)"
            " VALUES (:kind, 'marketing', 'marketing', '', 1, :t, false)"
        )
        async with db.transaction() as s:
            await s.execute(insert, {"kind": "private", "t": old_rows.NOW})
        with pytest.raises(IntegrityError):
            async with db.transaction() as s:
                await s.execute(insert, {"kind": "public", "t": old_rows.NOW})
    finally:
        await db.dispose()

"""Rows written straight into an old schema (revision 0001), to test what later migrations do with existing data.

The application's code always speaks the newest schema, so old data is made
here with plain SQL: users, channels or groups, memberships and messages.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def add_user(engine: AsyncEngine, uid: int, username: str, display_name: str, role: str = "member") -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, password_hash, role, is_bot, active, preferences,"
                " created_at) VALUES (:id, :u, :d, NULL, :r, false, true, '{}', :t)"
            ),
            {"id": uid, "u": username, "d": display_name, "r": role, "t": NOW},
        )


async def add_conversation(engine: AsyncEngine, cid: int, kind: str, name: str, members: list[int]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO conversations (id, kind, name, name_key, description, created_by, created_at, archived)"
                " VALUES (:id, :k, :n, :key, '', :by, :t, false)"
            ),
            {"id": cid, "k": kind, "n": name, "key": name.casefold(), "by": members[0], "t": NOW},
        )
        for uid in members:
            await conn.execute(
                text(
                    "INSERT INTO memberships (conversation_id, user_id, joined_at, starred) VALUES (:c, :u, :t, false)"
                ),
                {"c": cid, "u": uid, "t": NOW},
            )


async def add_message(engine: AsyncEngine, mid: int, cid: int, author: int, topic: str, body: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO messages (id, conversation_id, topic, topic_key, author_id, nonce, body, html, mentions,"
                " wildcard_mention, has_link, has_meeting, created_at)"
                " VALUES (:id, :c, :topic, :key, :a, :nonce, :body, :body, '[]', '', false, false, :t)"
            ),
            {"id": mid, "c": cid, "topic": topic, "key": topic.casefold(), "a": author, "nonce": f"n{mid}",
             "body": body, "t": NOW},
        )  # fmt: skip


async def fix_sequences(engine: AsyncEngine) -> None:
    """PostgreSQL: move the id sequences past the explicit ids inserted above (SQLite needs nothing)."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.begin() as conn:
        for table in ("users", "conversations", "messages"):
            await conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608 - fixed names
            )

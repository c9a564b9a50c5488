"""Secrets the server makes for itself on first use and keeps in ``server_secrets``.

The reply-address key (``chat.mail.addresses``) and the VAPID key pair (``chat.push``)
must be the same on every server process and survive restarts, so they live in the
database, not in a file of one machine. The first process that needs one makes it;
a second process racing it keeps the value that was stored first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import select

from chat.store import models
from chat.store.db import Database, insert_or_skip, table_of


def random_key() -> str:
    """32 random bytes, hex: a good HMAC key."""
    return secrets.token_hex(32)


async def server_secret(db: Database, name: str, make: Callable[[], str] = random_key) -> str:
    """The secret called ``name``, made with ``make()`` and stored the first time it is asked for."""
    async with db.read() as session:
        value = await session.scalar(select(models.ServerSecret.value).where(models.ServerSecret.name == name))
    if value is not None:
        return value
    async with db.transaction() as session:
        conn = await session.connection()
        table = table_of(models.ServerSecret)
        await session.execute(insert_or_skip(conn, table, ("name",), "name"), {"name": name, "value": make()})
        stored = await session.scalar(select(models.ServerSecret.value).where(models.ServerSecret.name == name))
    if stored is None:  # pragma: no cover - the row was inserted or already there
        raise RuntimeError(f"server secret {name!r} could not be stored")
    return stored

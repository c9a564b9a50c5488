"""Server secrets are made once and then the same for every caller."""

from __future__ import annotations

import asyncio

from chat.store.db import Database
from chat.store.secrets import server_secret


async def test_a_secret_is_made_once_even_when_asked_for_concurrently(database_url: str) -> None:
    db = Database(database_url)
    try:
        made: list[int] = []

        def make() -> str:
            made.append(1)
            return f"value-{len(made)}"

        values = await asyncio.gather(*(server_secret(db, "test_key", make) for _ in range(5)))
        assert len(set(values)) == 1
        assert await server_secret(db, "test_key", make) == values[0]
        assert await server_secret(db, "other_key") != values[0]
    finally:
        await db.dispose()

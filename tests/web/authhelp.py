"""Request headers that authenticate as a member of the cast (a real API token)."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette

from chat.accounts.tokens import issue_token
from chat.domain.actors import Actor
from chat.store.db import Database


async def as_user(client: httpx2.AsyncClient, app: Starlette, actor: Actor) -> dict[str, str]:
    """``Authorization: Bearer …`` headers for ``actor``, with a token issued through the real action."""
    db: Database = app.state.services.db
    async with db.transaction() as session:
        token = await issue_token(session, actor, f"test token for {actor.username}")
    return {"Authorization": f"Bearer {token}"}

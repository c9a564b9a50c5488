"""The composition root: ``create_app(settings)`` wires the store, hub, routes and middleware.

Nothing here is module-level state: every test builds its own app on its own
database.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from chat.config import Settings
from chat.store.db import Database
from chat.store.migrate import upgrade
from chat.web.errors import EXCEPTION_HANDLERS
from chat.web.routes import build_routes
from chat.web.state import Services

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, migrate: bool = False) -> Starlette:
    """Build the ASGI app. ``migrate=True`` brings the schema up to date on startup."""
    db = Database(settings.db_url)
    services = Services(settings=settings, db=db)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if migrate:
            await upgrade(db.engine)
        try:
            yield
        finally:
            await db.dispose()

    app = Starlette(
        debug=settings.debug,
        routes=build_routes(),
        exception_handlers=dict(EXCEPTION_HANDLERS),  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.services = services
    return app

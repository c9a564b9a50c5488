"""The composition root: ``create_app(settings)`` wires the store, hub, routes and middleware.

Nothing here is module-level state: every test builds its own app on its own
database. Only this module sees every layer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from chat.channels.feed import latest_event_id
from chat.channels.queries import all_memberships
from chat.config import Settings
from chat.realtime.broker import broker_from_url
from chat.realtime.hub import Hub, MembershipSnapshot
from chat.store.db import Database
from chat.store.migrate import upgrade
from chat.web.errors import EXCEPTION_HANDLERS
from chat.web.routes import build_routes
from chat.web.security import SecurityHeadersMiddleware
from chat.web.state import Services

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, migrate: bool = False) -> Starlette:
    """Build the ASGI app. ``migrate=True`` brings the schema up to date on startup."""
    db = Database(settings.db_url)

    async def load_memberships() -> MembershipSnapshot:
        async with db.read() as session:
            as_of = await latest_event_id(session)
            return await all_memberships(session), as_of

    hub = Hub(broker_from_url(settings.broker_url), loader=load_memberships)
    db.after_commit = hub.publish
    services = Services(settings=settings, db=db, extras={"hub": hub})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if migrate:
            await upgrade(db.engine)
        await hub.start()
        try:
            yield
        finally:
            await hub.close()
            await db.dispose()

    app = Starlette(
        debug=settings.debug,
        routes=build_routes(),
        middleware=[Middleware(SecurityHeadersMiddleware)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.services = services
    return app

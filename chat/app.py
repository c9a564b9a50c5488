"""The composition root: ``create_app(settings)`` wires the store, hub, routes and middleware.

Nothing here is module-level state: every test builds its own app on its own
database. Only this module sees every layer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from chat.accounts.ratelimit import Limiters, SlidingWindowLimiter
from chat.archive.checkpoint_sinks import CheckpointWriter
from chat.channels.feed import latest_event_id
from chat.channels.file_cleanup import FileCleanup
from chat.channels.queries import all_memberships
from chat.channels.retention import RetentionScheduler
from chat.config import Settings
from chat.domain.events import Event
from chat.files.storage import store_for
from chat.mail.notifier import Notifier
from chat.mail.receiver import start_receiver
from chat.mail.smtp import Mailer
from chat.push.sender import PushSender
from chat.realtime.broker import broker_from_url
from chat.realtime.hub import Hub, MembershipSnapshot
from chat.store.db import Database
from chat.store.migrate import upgrade
from chat.web.errors import EXCEPTION_HANDLERS
from chat.web.hosts import HostCheckMiddleware, required_setup_token
from chat.web.routes import build_routes
from chat.web.security import SecurityHeadersMiddleware
from chat.web.serving import http_protocol
from chat.web.state import Services

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, migrate: bool = False, setup_token: str = "") -> Starlette:
    """Build the ASGI app. ``migrate=True`` brings the schema up to date on startup.

    ``setup_token``: the one ``chat serve`` printed, which the first account of a server others can
    reach needs ("": none was made, only ``chat create-admin`` can make that account).
    """
    db = Database(settings.db_url)

    async def load_memberships() -> MembershipSnapshot:
        async with db.read() as session:
            as_of = await latest_event_id(session)
            return await all_memberships(session), as_of

    hub = Hub(broker_from_url(settings.broker_url), loader=load_memberships)
    mailer = Mailer(settings)
    push = PushSender(db, settings)  # Web Push delivery
    # missed-message mail, digests, and when to push (through push.notify)
    notifier = Notifier(db, settings, mailer, push=push.notify, is_online=hub.is_online)

    async def after_commit(events: Sequence[Event]) -> None:
        try:
            await hub.publish(events)  # clients first
        finally:
            await notifier.after_commit(events)  # only sets an asyncio.Event

    db.after_commit = after_commit
    db.on_doubt = hub.commit_in_doubt
    checkpoints = CheckpointWriter.from_settings(db, settings.checkpoint_sink, settings.checkpoint_interval_s)
    retention = RetentionScheduler(db, settings)  # purges expired message bodies every hour
    file_cleanup = FileCleanup(db, store_for(settings.upload_path))  # unused uploads, deleted messages' files
    services = Services(
        settings=settings,
        db=db,
        hub=hub,
        limiters=Limiters.from_settings(settings),
        post_limiter=SlidingWindowLimiter(
            settings.post_limit_per_user, settings.post_limit_window_s, code="rate_limited"
        ),
        setup_token=required_setup_token(settings, setup_token),
        checkpoints=checkpoints,
        retention=retention,
        mailer=mailer,
        notifier=notifier,
        push=push,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if migrate:
            await upgrade(db.engine)
        await hub.start()
        await push.prepare()  # the VAPID key pair: made and stored on the server's first start
        if checkpoints is not None:
            checkpoints.start()
        retention.start()
        file_cleanup.start()
        notifier.start()
        receiver = await start_receiver(db, settings) if settings.smtp_listen else None  # inbound SMTP
        try:
            yield
        finally:
            if receiver is not None:
                receiver.close()
            await notifier.close()
            await file_cleanup.close()
            await retention.close()
            if checkpoints is not None:
                await checkpoints.close()
            await hub.close()
            await db.dispose()

    app = SalonApp(
        debug=settings.debug,
        routes=build_routes(),
        middleware=[Middleware(HostCheckMiddleware, settings=settings)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.services = services
    return app


class SalonApp(Starlette):
    """Starlette with the security headers outside everything, 500 pages included.

    Starlette puts ``ServerErrorMiddleware`` outermost, so a middleware added the usual way
    never sees the 500 it sends; wrapping the whole stack puts the headers on every response.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def server_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration ``chat serve`` runs with (tests pass ``port``/``log_level``).

    The HTTP protocol bounds slow and excess clients (``chat.web.serving``); websocket liveness is the
    protocol's own ping/pong, which every client library answers: a ping every ``heartbeat_s``, and a
    peer whose pong has not come ``heartbeat_s`` later is closed (1011), so a dead peer is gone
    within two heartbeats.
    """
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": http_protocol(header_timeout_s=settings.header_timeout_s, max_connections=settings.max_connections),
        # twice Salon's own limit: a frame between the two gets a frame_too_large error frame,
        # a bigger one is cut off by uvicorn with 1009
        "ws_max_size": settings.ws_max_frame_bytes * 2,
        "ws_ping_interval": settings.heartbeat_s,
        "ws_ping_timeout": settings.heartbeat_s,
        "proxy_headers": True,
        "log_level": "info",
        "lifespan": "on",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)

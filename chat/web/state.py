"""The services every endpoint reaches through ``request.app.state.services``.

``chat.app.create_app`` builds one :class:`Services` per app, with every field
made there and then (Starlette's ``app.state``, typed): nothing is built on
first use and nothing is looked up by a string key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from chat.accounts.ratelimit import Limiters, SlidingWindowLimiter
from chat.archive.checkpoint_sinks import CheckpointWriter
from chat.channels.retention import RetentionScheduler
from chat.config import Settings
from chat.mail.notifier import Notifier
from chat.mail.smtp import Mailer
from chat.push.sender import PushSender
from chat.realtime.hub import Hub
from chat.store.db import Database


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    hub: Hub
    # this process's account limiters (login, registration) and posting limiter (REST and websocket share it)
    limiters: Limiters
    post_limiter: SlidingWindowLimiter
    # what the first account needs (``chat.web.hosts.required_setup_token``): None lets the first visitor in
    setup_token: str | None
    # the periodic audit checkpoints (``settings.checkpoint_*``); None when off
    checkpoints: CheckpointWriter | None = None
    # the periodic retention purge (``chat.channels.retention``); None: not scheduled in this app
    retention: RetentionScheduler | None = None
    # outbound mail through CHAT_SMTP_URL (``chat.mail.smtp``); ``mailer.enabled`` is False without a relay
    mailer: Mailer | None = None
    # address confirmations mailed per account (``chat.web.api.email``): 5 an hour
    confirmation_limiter: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(5, 3600, code="too_many_confirmations")
    )
    # missed-message mail, digests and the push trigger (``chat.mail.notifier``); None: not in this app
    notifier: Notifier | None = None
    # Web Push (``chat.push.sender``): the VAPID key and delivery; the notifier calls ``push.notify``
    push: PushSender | None = None
    # open websockets of this process, by user and by client address (``settings.ws_max_per_*``)
    ws_per_user: dict[int, int] = field(default_factory=dict)
    ws_per_address: dict[str, int] = field(default_factory=dict)


def services(conn: HTTPConnection) -> Services:
    svc: Services = conn.app.state.services
    return svc

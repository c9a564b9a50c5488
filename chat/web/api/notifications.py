"""REST endpoints: your notification settings, ``GET/PATCH /api/v1/me/notifications``.

Thin: authenticate, read the JSON body, one domain call (``chat.accounts.notifications``)
in a transaction, answer the settings in force after the change. The body is read as
plain JSON and checked by the domain (``chat.accounts.notification_prefs``), which knows
the time zones and the "now" a pause is measured from; :class:`UpdateNotifications` only
describes it for the OpenAPI document. Every account calls them for itself: members, guests
and bots (with their own token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.accounts.notifications import (
    NotificationSettings,
    QuietHoursSettings,
    get_notifications,
    update_notifications,
)
from chat.web.auth import require_actor
from chat.web.http import json_ok, read_json
from chat.web.openapi import api_route
from chat.web.state import services

_SETTINGS_ERRORS = (
    "invalid_notifications",
    "invalid_email_delay",
    "invalid_digest",
    "invalid_quiet_hours",
    "invalid_paused_until",
    "invalid_time_zone",
    "invalid_notify_level",
)


@dataclass(frozen=True)
class DigestPatch:
    """Any of the digest's fields: ``mode`` off or daily, ``hour`` 0-23, ``time_zone`` (IANA name)."""

    mode: Literal["off", "daily"] = "off"
    hour: int = 8
    time_zone: str = "UTC"


@dataclass(frozen=True)
class UpdateNotifications:
    """Any of the settings (a partial change). ``email_delay_s``: 1 to 604800; ``digest``: any of
    its fields; ``quiet_hours``: all four fields, or null for none; ``paused_until``: a future
    instant with its offset (at most a year ahead), or null to resume; ``conversations``:
    ``{"<conversation id>": "all" | "mentions" | "nothing" | null}`` (null: back to the default),
    only conversations you are a member of."""

    email_delay_s: int = 600
    email_missed: bool = True
    digest: DigestPatch = DigestPatch()
    push: bool = True
    quiet_hours: QuietHoursSettings | None = None
    paused_until: datetime | None = None
    conversations: dict[str, str | None] = field(default_factory=dict)


async def show(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await get_notifications(session, actor))


async def change(request: Request) -> Response:
    actor = await require_actor(request)
    body = await read_json(request)
    async with services(request).db.transaction() as session:
        return json_ok(await update_notifications(session, actor, body))


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/me/notifications",
        show,
        "Your notification settings: mail, digest, push, quiet hours, pause, per-conversation levels",
        response=NotificationSettings,
        errors=("not_authenticated",),
    ),
    api_route(
        "PATCH",
        "/me/notifications",
        change,
        "Change your notification settings (partial); answers the settings in force",
        request=UpdateNotifications,
        response=NotificationSettings,
        errors=(
            "malformed_json",
            "body_too_large",
            "bad_format",
            "not_authenticated",
            "csrf_failed",
            *_SETTINGS_ERRORS,
            "conversation_not_found",
        ),
    ),
]

"""REST endpoints: the workspace settings (admins).

Thin: authenticate, parse, one domain call (``chat.channels.settings``) in a
transaction, answer JSON. The answer is always the settings in force after the
change, so a client never guesses which defaults apply.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.settings import UpdateSettings, WorkspaceSettings, get_settings, update_settings
from chat.web.auth import require_actor
from chat.web.http import json_ok, read_command
from chat.web.openapi import api_route
from chat.web.state import services

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")


async def show(request: Request) -> Response:
    actor = await require_actor(request)
    svc = services(request)
    async with svc.db.read() as session:
        return json_ok(await get_settings(session, actor, svc.settings))


async def change(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, UpdateSettings)
    svc = services(request)
    async with svc.db.transaction() as session:
        return json_ok(await update_settings(session, actor, cmd, svc.settings))


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/settings",
        show,
        "Admin: the workspace settings in force",
        response=WorkspaceSettings,
        errors=("not_authenticated", "admin_required"),
    ),
    api_route(
        "PATCH",
        "/settings",
        change,
        "Admin: change workspace settings (any of them, at least one); takes effect at once",
        request=UpdateSettings,
        response=WorkspaceSettings,
        errors=(
            *_BODY,
            "not_authenticated",
            "csrf_failed",
            "admin_required",
            "nothing_to_change",
            "wrong_value",
            "out_of_range",
            "too_many",
            "too_long",
            "bad_format",
            "bad_url",
            "email_verification_unavailable",
        ),
    ),
]

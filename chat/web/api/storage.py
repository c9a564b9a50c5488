"""REST endpoint: ``GET /api/v1/me/storage``, how much of their upload quota a user has used.

The settings page shows it as "Storage: X of Y used". ``used_bytes`` is what the
quota counts (the sizes of the user's uploads, attached or not yet);
``quota_bytes`` is ``CHAT_UPLOAD_QUOTA_BYTES``, 0 when there is no quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.uploads import used_bytes
from chat.web.auth import require_actor
from chat.web.http import json_ok
from chat.web.openapi import api_route
from chat.web.state import services


@dataclass(frozen=True)
class StorageOut:
    """Your uploads' total size, and your quota (0: none)."""

    used_bytes: int
    quota_bytes: int


async def show_storage(request: Request) -> Response:
    actor = await require_actor(request)
    svc = services(request)
    async with svc.db.read() as session:
        used = await used_bytes(session, actor.id)
    return json_ok(StorageOut(used_bytes=used, quota_bytes=svc.settings.upload_quota_bytes))


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/me/storage",
        show_storage,
        "Your storage: the total size of your uploads and your quota",
        response=StorageOut,
        errors=("not_authenticated",),
    ),
]

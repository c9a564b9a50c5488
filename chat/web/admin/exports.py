"""``/admin/exports``: the compliance export form (admins).

A date range across conversations (all of them, or those chosen), as JSONL,
CSV or a verifiable HTML zip. The form calls ``GET /api/v1/compliance/export``
(:mod:`chat.web.archive.api`) from ``static/js/archive.js``, which shows the
download's progress; the export writes its ``archive.exported`` event.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.channels.archive import list_readable
from chat.store import models
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.state import services


async def exports_page(request: Request) -> Response:
    try:
        actor = await admin_page(request, admins_only=True)
    except NotStaff:
        return await signed_out_or_404(request)
    async with services(request).db.read() as session:
        conversations = await list_readable(session, actor)
    today = models.utcnow().date()
    return render_admin(
        request,
        "admin/exports.html",
        actor,
        conversations=conversations,
        default_from=(today - timedelta(days=30)).isoformat(),
        default_to=today.isoformat(),
    )


routes: list[BaseRoute] = [Route("/admin/exports", exports_page, methods=["GET"], name="admin-exports")]

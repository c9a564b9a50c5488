"""``/admin/retention``: every conversation's retention and legal hold, the users on hold, forms to change them.

Admins only. It reads through ``chat.channels.legal_hold`` (the same functions as
``GET /api/v1/retention``); each form is a ``PUT`` of the REST API that writes an
event (``static/js/admin.js``). ``?after=`` pages through conversations (100 a page),
``?user=`` finds people to place a hold on.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.channels.legal_hold import MAX_DAYS, find_users, retention_overview
from chat.store.workspace import load
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.api.retention import PAGE
from chat.web.http import int_query, text_query
from chat.web.state import services


async def retention_page(request: Request) -> Response:
    try:
        actor = await admin_page(request, admins_only=True)
    except NotStaff:
        return await signed_out_or_404(request)
    after = int_query(request, "after") or 0
    wanted = (text_query(request, "user", 80) or "").strip()
    svc = services(request)
    async with svc.db.read() as session:
        workspace = await load(session, svc.settings)
        overview = await retention_overview(
            session, actor, workspace_days=workspace.retention_days, after=after, limit=PAGE
        )
        found = await find_users(session, actor, wanted) if wanted else []
    return render_admin(
        request,
        "admin/retention.html",
        actor,
        overview=overview,
        found=found,
        wanted=wanted,
        after=after,
        max_days=MAX_DAYS,
    )


routes: list[BaseRoute] = [Route("/admin/retention", retention_page, methods=["GET"], name="admin-retention")]

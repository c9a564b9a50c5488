"""``/admin/bots`` (admins): every bot with its owner and its tokens.

Every button is a form that ``static/js/admin.js`` sends to a documented API
call, which writes the event: create a bot (``POST /api/v1/bots``, its first
token shown once), issue a token (``POST /api/v1/bots/{id}/tokens``, shown
once), revoke a token (``DELETE /api/v1/bots/{id}/tokens/{token_id}``),
deactivate or reactivate a bot (``PATCH /api/v1/users/{id}``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.accounts.bots import list_bots
from chat.accounts.directory import list_users
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.state import services


async def bots_page(request: Request) -> Response:
    try:
        actor = await admin_page(request)
    except NotStaff:
        return await signed_out_or_404(request)
    async with services(request).db.read() as session:
        bots = await list_bots(session, actor)
        people = await list_users(session, actor)
    owners = [u for u in people.users if not u.is_bot and u.role != "guest"]
    return render_admin(request, "admin/bots.html", actor, bots=bots.bots, owners=owners)


routes: list[BaseRoute] = [Route("/admin/bots", bots_page, methods=["GET"], name="admin-bots")]

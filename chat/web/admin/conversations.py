"""``/admin/conversations`` (admins): every channel and group, without their content.

Reads through the same domain function as the API
(``chat.channels.overview.list_managed``, ``GET /api/v1/admin/conversations``):
search by name, filter by kind, state and default flag. Each button is a form
that ``static/js/admin.js`` sends as ``PATCH /api/v1/conversations/{id}``,
which writes the event: rename (``conversation.updated``), archive or
unarchive (same), mark or unmark as a default channel (same), hand over to a
new owner (``conversation.owner_changed``). Direct conversations are only
counted.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.accounts.directory import list_users
from chat.channels.commands import NAME_MAX
from chat.channels.overview import OverviewFilter, list_managed
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.state import services

PAGE = 50
_STATES = {"live": False, "archived": True}


async def conversations_page(request: Request) -> Response:
    try:
        actor = await admin_page(request)
    except NotStaff:
        return await signed_out_or_404(request)
    params = request.query_params
    q = params.get("q", "")[:NAME_MAX].replace("\x00", "")
    kind = params.get("kind") if params.get("kind") in ("public", "private") else None
    state = params.get("state", "")
    state = state if state in _STATES else ""
    default_only = params.get("default") == "1"
    offset = int(params["offset"]) if params.get("offset", "").isdigit() and len(params["offset"]) < 9 else 0
    wanted = OverviewFilter(
        q=q or None,
        kind=kind,  # type: ignore[arg-type]
        archived=_STATES.get(state),
        is_default=True if default_only else None,
        limit=PAGE,
        offset=offset,
    )
    async with services(request).db.read() as session:
        overview = await list_managed(session, actor, wanted)
        people = await list_users(session, actor)
    owners = [u for u in people.users if u.active and not u.is_bot and u.role != "guest"]
    return render_admin(
        request,
        "admin/conversations.html",
        actor,
        overview=overview,
        q=q,
        kind=kind or "",
        state=state,
        default_only=default_only,
        offset=offset,
        page=PAGE,
        owners=owners,
        name_max=NAME_MAX,
    )


routes: list[BaseRoute] = [
    Route("/admin/conversations", conversations_page, methods=["GET"], name="admin-conversations")
]

"""``/admin/audit`` (admins): the audit log with its filters and the status of its chains.

The page reads what ``GET /api/v1/audit`` answers, with the same filters
(``chat.web.api.audit.audit_query``); viewing it writes no event. Chain status
is computed on demand: the "Verify" button reloads the page with
``verify=1``, which verifies every chain on the page in full (see
``chat.channels.audit_log`` for why it is not done on every load).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.accounts.directory import list_users
from chat.channels.audit_log import read_audit_log
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.api.audit import KIND_MAX, audit_query
from chat.web.state import services

FILTERS = ("actor", "kind", "conversation", "after", "before")


async def audit_page(request: Request) -> Response:
    try:
        actor = await admin_page(request)
    except NotStaff:
        return await signed_out_or_404(request)
    query = audit_query(request)
    async with services(request).db.read() as session:
        log = await read_audit_log(session, actor, query)
        people = await list_users(session, actor, include_inactive=True)
    filters = {name: request.query_params.get(name, "") for name in FILTERS}
    return render_admin(
        request,
        "admin/audit.html",
        actor,
        log=log,
        verified=query.verify,
        filters=filters,
        active_filters={k: v for k, v in filters.items() if v},
        cursor=query.cursor,
        people=people.users,
        kind_max=KIND_MAX,
    )


routes: list[BaseRoute] = [Route("/admin/audit", audit_page, methods=["GET"], name="admin-audit")]

"""``/admin/settings`` (admins): the workspace settings, one form.

Reads them as the API does (``chat.channels.settings.get_settings``); the form
is sent by ``static/js/admin.js`` as ``PATCH /api/v1/settings`` with every
field, and the API stores and logs only those that changed. Registration by
e-mail domain needs a mail relay to prove the addresses: without ``CHAT_SMTP_URL``
it is shown, disabled, with the reason, and the API refuses it
(``email_verification_unavailable``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.channels.settings import RETENTION_MAX_DAYS, WINDOW_MAX_S, get_settings
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.state import services

REGISTRATION_MODES = ("open", "invite", "domains", "closed")
NEEDS_RELAY = ("domains",)  # addresses are proved by a mailed link: no relay, no such mode
WHO = ("members", "admins")


async def settings_page(request: Request) -> Response:
    try:
        actor = await admin_page(request)
    except NotStaff:
        return await signed_out_or_404(request)
    svc = services(request)
    async with svc.db.read() as session:
        current = await get_settings(session, actor, svc.settings)
    return render_admin(
        request,
        "admin/settings.html",
        actor,
        workspace=current,
        modes=REGISTRATION_MODES,
        unavailable=() if svc.settings.smtp_url else NEEDS_RELAY,
        who=WHO,
        window_max=WINDOW_MAX_S,
        retention_max=RETENTION_MAX_DAYS,
    )


routes: list[BaseRoute] = [Route("/admin/settings", settings_page, methods=["GET"], name="admin-settings")]

"""``/admin/reports``: the moderators' report queue (admins and moderators).

Each report shows its window of five messages (the reported one highlighted),
who reported it and why, and one form per action; each form is the documented
call ``POST /api/v1/reports/{id}/resolve`` (``static/js/admin.js`` sends it), so
every resolution writes its events like any API call. The page reads the queue
through ``list_reports``, the function behind ``GET /api/v1/reports``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.channels.policy import can_resolve_report
from chat.channels.reports import PersonRef, ReportOut, Status, list_reports
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.http import int_query
from chat.web.state import services

# the mute durations offered on the page (the API takes any number of seconds in its range)
MUTE_CHOICES = ((3600, "admin.reports.mute_1h"), (86400, "admin.reports.mute_1d"), (7 * 86400, "admin.reports.mute_7d"))


@dataclass(frozen=True)
class ReportView:
    report: ReportOut
    actions: tuple[str, ...]  # the actions this person may take on it


async def reports_page(request: Request) -> Response:
    try:
        actor = await admin_page(request, admins_only=False)
    except NotStaff:
        return await signed_out_or_404(request)
    status: Status = "resolved" if request.query_params.get("status") == "resolved" else "open"
    before = int_query(request, "before", 1)
    async with services(request).db.read() as session:
        page = await list_reports(session, actor, status=status, before=before)
    people: dict[int, PersonRef] = {p.id: p for p in page.users}
    views = [
        ReportView(
            report,
            tuple(
                action
                for action in ("dismiss", "delete", "mute", "remove", "deactivate")
                if can_resolve_report(actor, action, report.place.kind, _role(people, report.author))
            ),
        )
        for report in page.reports
    ]
    return render_admin(
        request,
        "admin/reports.html",
        actor,
        showing=status,
        views=views,
        people=people,
        next_before=page.next_before,
        mute_choices=MUTE_CHOICES,
        when=_when,
    )


def _role(people: dict[int, PersonRef], user_id: int) -> str:
    person = people.get(user_id)
    return person.role if person is not None else "member"


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


routes: list[BaseRoute] = [Route("/admin/reports", reports_page, methods=["GET"], name="admin_reports")]

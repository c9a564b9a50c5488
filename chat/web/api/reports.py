"""REST endpoints: reporting a message, the moderators' queue, resolving a report.

Thin, like every API module: parse, one domain call in a transaction, JSON.
The reporter's language (cookie or ``Accept-Language``, as the pages choose
it) goes with the report, and the system DM that tells them the outcome is
worded here, where the translations live (:func:`outcome_notice`).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.accounts.moderation import Outcome, resolve_report
from chat.channels.reports import (
    LIST_DEFAULT,
    LIST_MAX,
    FileReport,
    ReportList,
    ReportOut,
    ReportReceipt,
    ResolveReport,
    Status,
    file_report,
    list_reports,
)
from chat.errors import Invalid
from chat.web import i18n
from chat.web.auth import require_actor
from chat.web.http import int_query, json_ok, path_id, read_command
from chat.web.openapi import Query, api_route
from chat.web.state import services

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")
_AUTH = ("not_authenticated", "csrf_failed")
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


async def report(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, FileReport)
    lang = i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.LANG_COOKIE))
    async with services(request).db.transaction() as session:
        receipt = await file_report(session, actor, path_id(request), cmd, lang=lang)
    return json_ok(receipt, status=201)


async def queue(request: Request) -> Response:
    actor = await require_actor(request)
    status = request.query_params.get("status") or "open"
    if status not in ("open", "resolved"):
        raise Invalid("wrong_value", "status is open or resolved", field="status")
    before = int_query(request, "before", 1)
    limit = int_query(request, "limit", 1, LIST_MAX) or LIST_DEFAULT
    async with services(request).db.read() as session:
        page = await list_reports(session, actor, status=_status(status), before=before, limit=limit)
    return json_ok(page)


def _status(value: str) -> Status:
    return "resolved" if value == "resolved" else "open"


async def resolve(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, ResolveReport)
    async with services(request).db.transaction() as session:
        resolved = await resolve_report(session, actor, path_id(request), cmd, notice=outcome_notice)
    return json_ok(resolved)


def outcome_notice(outcome: Outcome) -> str:
    """The system DM to a reporter, in their language; what users wrote is escaped (no markup, no mentions)."""
    lang = outcome.lang

    def _(key: str, **values: object) -> str:
        return i18n.translate(lang, key, **values)

    if outcome.conversation_name is None:
        where = _("report.notice.in_direct")
    else:
        where = _("report.notice.in_topic", conversation=_md(outcome.conversation_name), topic=_md(outcome.topic))
    lines = [
        _("report.notice.intro", report=outcome.report_id, where=where),
        "",
        f"> {_md(outcome.excerpt)}" if outcome.excerpt else "",
        "",
    ]
    until = outcome.muted_until.strftime("%Y-%m-%d %H:%M UTC") if outcome.muted_until else ""
    lines.append(_(f"report.notice.{outcome.action}", until=until))
    if outcome.note:
        lines.append(_("report.notice.note", note=_md(outcome.note)))
    return "\n".join(line for line in lines if line is not None).strip()


def _md(text: str) -> str:
    """Plain text as markdown that shows it as it is: every ASCII punctuation mark escaped."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


_REPORT_ERRORS = ("message_not_found", "own_message", "message_deleted", "already_reported", "too_long", "empty")
_RESOLVE_ERRORS = (
    "staff_required",
    "admin_required",
    "not_allowed",
    "report_not_found",
    "report_resolved",
    "duration_required",
    "duration_not_allowed",
    "wrong_value",
    "out_of_range",
    "too_long",
    "last_admin",
)

routes: list[BaseRoute] = [
    api_route(
        "POST",
        "/messages/{id:id}/reports",
        report,
        "Report a message you can see to the moderators, with a reason (201)",
        request=FileReport,
        response=ReportReceipt,
        status=201,
        errors=(*_BODY, *_AUTH, *_REPORT_ERRORS),
    ),
    api_route(
        "GET",
        "/reports",
        queue,
        "Staff: reports, newest first, each with its message and two neighbours on each side in its topic",
        response=ReportList,
        query=[
            Query("status", str, "open (default) or resolved"),
            Query("before", int, "reports older than this report id (the previous page's next_before)"),
            Query("limit", int, f"page size, 1 to {LIST_MAX} (default {LIST_DEFAULT})"),
        ],
        errors=("not_authenticated", "staff_required", "wrong_value", "wrong_type", "out_of_range"),
    ),
    api_route(
        "POST",
        "/reports/{id:id}/resolve",
        resolve,
        "Staff: resolve a report and every open report of its message (dismiss, delete, mute, remove, deactivate)",
        request=ResolveReport,
        response=ReportOut,
        errors=(*_BODY, *_AUTH, *_RESOLVE_ERRORS),
    ),
]

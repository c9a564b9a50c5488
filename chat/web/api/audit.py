"""REST endpoint: the audit log (admins), read-only and not itself logged.

Thin: parse the filters, one read (``chat.channels.audit_log``), answer JSON.
``after`` and ``before`` take a date (``2026-12-01``: the whole day counts, so
``before=2026-12-07`` includes the 7th) or an ISO 8601 datetime (naive ones
are UTC).
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.audit_log import PAGE_MAX, AuditPage, AuditQuery, read_audit_log
from chat.web.auth import require_actor
from chat.web.http import flag_query, int_query, json_ok, moment, text_query
from chat.web.openapi import Query, api_route
from chat.web.state import services

KIND_MAX = 40


def moment_query(request: Request, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date or datetime query parameter (``chat.web.http.moment``), None when absent."""
    raw = text_query(request, name, 40)
    return None if raw is None else moment(raw, name, end_of_day=end_of_day, code="bad_date")


def audit_query(request: Request) -> AuditQuery:
    """The filters of ``GET /api/v1/audit`` (and of the audit page), checked."""
    return AuditQuery(
        actor=int_query(request, "actor", 1),
        kind=text_query(request, "kind", KIND_MAX),
        conversation=int_query(request, "conversation", 1),
        after=moment_query(request, "after"),
        before=moment_query(request, "before", end_of_day=True),
        limit=int_query(request, "limit", 1, PAGE_MAX) or AuditQuery.limit,
        cursor=int_query(request, "cursor", 1),
        verify=bool(flag_query(request, "verify")),
    )


async def audit_log(request: Request) -> Response:
    actor = await require_actor(request)
    query = audit_query(request)
    async with services(request).db.read() as session:
        return json_ok(await read_audit_log(session, actor, query))


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/audit",
        audit_log,
        "Admin: the event log, newest first, filtered, with the status of each chain on the page",
        response=AuditPage,
        query=[
            Query("actor", int, "events by this user id"),
            Query("kind", str, "an event kind (conversation.updated) or a prefix ending in a dot (message.)"),
            Query("conversation", int, "events of this conversation"),
            Query("after", str, "from this date or datetime on (inclusive)"),
            Query("before", str, "up to this date (inclusive) or datetime (exclusive)"),
            Query("limit", int, f"1 to {PAGE_MAX} events (default 50)"),
            Query("cursor", int, "next_cursor of the previous page"),
            Query("verify", bool, "true: verify every chain on the page in full (slow on long chains)"),
        ],
        errors=(
            "not_authenticated",
            "admin_required",
            "wrong_type",
            "out_of_range",
            "too_long",
            "bad_format",
            "bad_date",
        ),
    ),
]

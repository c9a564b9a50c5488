"""REST export endpoints: one conversation (or one of its topics), and the compliance export.

``GET /api/v1/conversations/{id}/export?format=jsonl|csv|html&topic=``: whoever
may read the conversation's archive (``policy.access_archive``: its readers;
admins, any conversation). ``GET /api/v1/compliance/export?from=&to=&conversation=&format=``:
admins only, a date range across conversations (all, or the ids named by
repeated ``conversation`` parameters). Both are answered by
:func:`chat.web.archive.exporting.export_response` and write an
``archive.exported`` event.
"""

from __future__ import annotations

import re
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.archive.export import Scope
from chat.channels.archive import (
    FORMATS,
    ExportFormat,
    access_archive,
    archive_titles,
    compliance_scope,
    reader_limits,
)
from chat.channels.message_commands import TOPIC_MAX, topic_key
from chat.errors import Invalid
from chat.validation import INT64_MAX
from chat.web.archive.bundle import DEFAULT_MAX_FILE_BYTES
from chat.web.archive.exporting import export_response
from chat.web.auth import check_download_origin, require_actor
from chat.web.http import int_query, moment, path_id, text_query
from chat.web.openapi import Query, api_route
from chat.web.state import services

TOPIC_KEY_MAX = TOPIC_MAX * 4  # a topic key (case-folded) in the archive's page addresses
MAX_CONVERSATIONS = 500  # conversation parameters in one compliance export
_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only (str.isdigit also takes ², ٣ …), never thousands of them


def export_format(request: Request) -> ExportFormat:
    value = request.query_params.get("format", "jsonl")
    for fmt in FORMATS:
        if value == fmt:
            return fmt
    raise Invalid("wrong_value", "format must be jsonl, csv or html", field="format")


async def export_conversation(request: Request) -> Response:
    actor = await require_actor(request)
    check_download_origin(request)
    conversation_id = path_id(request)
    fmt = export_format(request)
    topic = text_query(request, "topic", TOPIC_MAX)
    async with services(request).db.read() as session:
        await access_archive(session, actor, conversation_id)
        titles = await archive_titles(session, [conversation_id])
        limits = await reader_limits(session, actor, (conversation_id,))
    key = topic_key(topic) if topic is not None else None
    scope = Scope((conversation_id,), key, hidden_places=limits.hidden_places)
    name = f"salon-c{conversation_id}" + ("-topic" if topic is not None else "")
    return await export_response(
        request, actor, scope, fmt, topic=topic, titles=titles, filename=name, max_file_bytes=max_file_bytes(request)
    )


def max_file_bytes(request: Request) -> int:
    """The ``max_file_bytes`` query parameter (0: no file in the zip), or the default."""
    value = int_query(request, "max_file_bytes", 0, INT64_MAX)
    return DEFAULT_MAX_FILE_BYTES if value is None else value


def day_or_time(request: Request, name: str, *, end: bool) -> datetime:
    """``YYYY-MM-DD`` (a UTC day; ``to`` includes it) or an ISO date-time (UTC if no offset)."""
    raw = request.query_params.get(name, "")
    if not raw:
        raise Invalid("missing_field", f"{name} is required (YYYY-MM-DD)", field=name)
    if len(raw) > 40:
        raise Invalid("bad_format", f"{name} must be a date (YYYY-MM-DD) or an ISO date-time", field=name)
    return moment(raw, name, end_of_day=end, code="bad_format")


def conversation_ids(request: Request) -> list[int]:
    raw = request.query_params.getlist("conversation")
    if len(raw) > MAX_CONVERSATIONS:
        raise Invalid("too_many", f"at most {MAX_CONVERSATIONS} conversations", field="conversation")
    ids = []
    for value in raw:
        if not _ID.fullmatch(value) or not 1 <= int(value) <= INT64_MAX:
            raise Invalid("wrong_type", "conversation must be a conversation id", field="conversation")
        ids.append(int(value))
    return ids


async def export_compliance(request: Request) -> Response:
    actor = await require_actor(request)
    check_download_origin(request)
    fmt = export_format(request)
    start, end = day_or_time(request, "from", end=False), day_or_time(request, "to", end=True)
    if end <= start:
        raise Invalid("out_of_range", "to must not be before from", field="to")
    ids = conversation_ids(request)
    async with services(request).db.read() as session:
        scope = await compliance_scope(session, actor, ids, start, end)
        titles = await archive_titles(session, scope.conversation_ids)
    name = f"salon-compliance-{start.date().isoformat()}"
    return await export_response(
        request, actor, scope, fmt, topic=None, titles=titles, filename=name, max_file_bytes=max_file_bytes(request)
    )


_FORMAT = Query("format", str, "jsonl (default), csv or html (a zip: static pages, events.jsonl, verify.py)")
_MAX_FILE = Query(
    "max_file_bytes",
    int,
    f"html: include each attached file up to this size (default {DEFAULT_MAX_FILE_BYTES}; 0: none); "
    "larger ones are listed, not included",
)
routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/conversations/{id:id}/export",
        export_conversation,
        "Export a conversation, or one topic of it: JSONL or CSV streamed, or a verifiable HTML zip",
        query=[_FORMAT, Query("topic", str, "only this topic (matched without regard to case)"), _MAX_FILE],
        errors=(
            "not_authenticated",
            "conversation_not_found",
            "wrong_value",
            "too_long",
            "bad_format",
            "wrong_type",
            "out_of_range",
        ),
    ),
    api_route(
        "GET",
        "/compliance/export",
        export_compliance,
        "Admins: export every message of a date range across conversations (all, or those named)",
        query=[
            Query("from", str, "first UTC day (YYYY-MM-DD) or an ISO date-time", required=True),
            Query("to", str, "last UTC day, included (YYYY-MM-DD), or an ISO date-time, excluded", required=True),
            Query("conversation", int, "a conversation id; repeat for several; none: every conversation"),
            _FORMAT,
            _MAX_FILE,
        ],
        errors=(
            "not_authenticated",
            "not_allowed",
            "conversation_not_found",
            "wrong_value",
            "wrong_type",
            "missing_field",
            "bad_format",
            "out_of_range",
            "too_many",
        ),
    ),
]

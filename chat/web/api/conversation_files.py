"""REST endpoint: a conversation's files (``GET /api/v1/conversations/{id}/files?before=&limit=``).

Thin: authenticate, read the page parameters, call
:func:`chat.channels.conversation_files.list_conversation_files` in a read session.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.conversation_files import DEFAULT_LIMIT, MAX_LIMIT, FilePage, list_conversation_files
from chat.web.auth import require_actor
from chat.web.http import int_query, json_ok, path_id
from chat.web.openapi import Query, api_route
from chat.web.state import services


async def conversation_files(request: Request) -> Response:
    actor = await require_actor(request)
    conversation_id = path_id(request)
    limit = int_query(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = int_query(request, "before", 1)
    async with services(request).db.read() as session:
        page = await list_conversation_files(session, actor, conversation_id, before=before, limit=limit)
    return json_ok(page)


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/conversations/{id:id}/files",
        conversation_files,
        "The files of a conversation's visible messages, newest first, with uploader, date and topic",
        response=FilePage,
        query=[
            Query("before", int, "only files of messages with an id below this: the previous page's next_before"),
            Query("limit", int, f"files per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}); never splits a message"),
        ],
        errors=["conversation_not_found", "wrong_type", "out_of_range", "not_authenticated"],
    )
]

"""REST endpoint: message search (``GET /api/v1/search?q=&limit=&before=``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.search import DEFAULT_LIMIT, MAX_LIMIT, SearchResults, parse_query, search_messages
from chat.web.auth import require_actor
from chat.web.http import int_query, json_ok
from chat.web.openapi import Query, api_route
from chat.web.state import services

QUERY_HELP = (
    "free words (all must match, each in the text or a file name; the last also as a prefix), quoted phrases, "
    "and operators: "
    "in:<conversation name or id> topic:<name> from:<username> has:link has:meeting has:attachment has:image "
    "is:resolved "
    'before:YYYY-MM-DD after:YYYY-MM-DD (UTC days, exclusive); quote values with spaces: topic:"Q3 tender"'
)


async def search(request: Request) -> Response:
    actor = await require_actor(request)
    query = parse_query(request.query_params.get("q", ""))
    limit = int_query(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = int_query(request, "before", 1)
    async with services(request).db.read(threaded=True) as session:  # its cost grows with the archive
        results = await search_messages(session, actor, query, limit, before)
    return json_ok(results)


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/search",
        search,
        "Search the messages the caller may read, newest first",
        response=SearchResults,
        query=[
            Query("q", str, QUERY_HELP),
            Query("limit", int, f"page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
            Query("before", int, "only messages with an id below this: the previous page's next_before"),
        ],
        errors=["bad_query", "wrong_type", "out_of_range", "conversation_not_found", "not_authenticated"],
    )
]

"""REST endpoint: message search (``GET /api/v1/search?q=&limit=&before=``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.search import DEFAULT_LIMIT, MAX_LIMIT, SearchResults, parse_query, search_messages
from chat.errors import Invalid
from chat.web.auth import require_actor
from chat.web.http import json_ok
from chat.web.openapi import Query, api_route
from chat.web.state import services

QUERY_HELP = (
    "free words (all must match; the last also as a prefix), quoted phrases, and operators: "
    "in:<conversation name or id> topic:<name> from:<username> has:link has:meeting is:resolved "
    'before:YYYY-MM-DD after:YYYY-MM-DD (UTC days, exclusive); quote values with spaces: topic:"Q3 tender"'
)


def _int_param(request: Request, name: str, default: int | None, minimum: int, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid("wrong_type", f"{name} must be an integer", field=name) from None
    if not minimum <= value <= maximum:
        raise Invalid("out_of_range", f"{name} must be between {minimum} and {maximum}", field=name)
    return value


async def search(request: Request) -> Response:
    actor = await require_actor(request)
    query = parse_query(request.query_params.get("q", ""))
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = _int_param(request, "before", None, 1, 2**63 - 1)
    async with services(request).db.read() as session:
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

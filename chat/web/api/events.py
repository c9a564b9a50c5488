"""REST endpoint: the event log as the caller may see it now (``GET /api/v1/events``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.feed import MAX_PAGE, events_since
from chat.web.auth import require_actor
from chat.web.http import int_query, json_ok
from chat.web.openapi import Query, api_route
from chat.web.state import services


@dataclass(frozen=True)
class EventOut:
    id: int
    conversation: int | None
    seq: int
    kind: str
    actor: int | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class EventPageOut:
    """A page of events; send ``last_event_id`` as ``after`` to get the next one."""

    events: list[EventOut]
    last_event_id: int
    has_more: bool


async def list_events(request: Request) -> Response:
    actor = await require_actor(request)
    after = int_query(request, "after") or 0
    limit = int_query(request, "limit", 1, MAX_PAGE) or 100
    async with services(request).db.read() as session:
        page = await events_since(session, actor, after, limit)
    events = [e.public() for e in page.events]
    return json_ok({"events": events, "last_event_id": page.last_event_id, "has_more": page.has_more})


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/events",
        list_events,
        "The events the caller may see now, after a cursor, oldest first",
        response=EventPageOut,
        query=[
            Query("after", int, "return events with an id above this (0: from the start)"),
            Query("limit", int, f"page size, 1 to {MAX_PAGE} (default 100)"),
        ],
        errors=["wrong_type", "out_of_range"],
    )
]

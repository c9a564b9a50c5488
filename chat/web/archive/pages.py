"""The archive's pages: conversations → topics → messages, plain server-rendered HTML that prints well.

* ``/archive``: every conversation whose archive the visitor may read
  (``policy.can_read_archive``: what they can view; admins, everything);
* ``/archive/{id}``: its topics (one aggregate over the topic index), and the
  export form for the whole conversation;
* ``/archive/{id}/topic?key=…&after=…`` (or ``&before=…``): one page of at most
  ``PAGE_MAX`` messages, keyset-paginated on ``ix_messages_conversation_topic_id``
  (never ``OFFSET``), with edit history and tombstones; the export form for the
  topic.

Signed-out visitors go to the login page; a conversation they may not read is a
404, as everywhere. The export forms call the REST export
(:mod:`chat.web.archive.api`) from ``static/js/archive.js``, which shows the
download's progress.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.archive.export import PAGE_MAX, list_topics, topic_page
from chat.channels.archive import access_archive, archive_titles, list_readable, log_outsider_view, reader_limits
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.web.archive.api import TOPIC_KEY_MAX
from chat.web.http import int_query, path_id, text_query
from chat.web.pages import language, page_actor, render, to_login, user_json
from chat.web.state import services


def _not_found(request: Request) -> Response:
    return render(request, "error.html", status=404, code="not_found", message_key="error.page_not_found")


async def archive_home(request: Request) -> Response:
    auth = await page_actor(request)
    if auth is None:
        return to_login(request)
    async with services(request).db.read() as session:
        entries = await list_readable(session, auth.actor)
    return _page(request, "archive/index.html", auth.actor, entries=entries)


async def conversation_page(request: Request) -> Response:
    auth = await page_actor(request)
    if auth is None:
        return to_login(request)
    try:
        conversation_id = path_id(request)
        async with services(request).db.read() as session:
            conversation, title = await _open(session, auth.actor, conversation_id)
            topics = await list_topics(session, conversation_id)
        await _log_if_outsider(request, auth.actor, conversation_id, None)
    except ChatError:
        return _not_found(request)
    return _page(
        request,
        "archive/conversation.html",
        auth.actor,
        conversation=conversation,
        title=title,
        topics=topics,
        total=sum(t.messages for t in topics),
    )


async def topic_view(request: Request) -> Response:
    auth = await page_actor(request)
    if auth is None:
        return to_login(request)
    try:
        conversation_id = path_id(request)
        key = text_query(request, "key", TOPIC_KEY_MAX) or ""  # a direct conversation's topic is ""
        after = int_query(request, "after") or 0
        before = int_query(request, "before", 1)
        async with services(request).db.read() as session:
            conversation, title = await _open(session, auth.actor, conversation_id)
            limits = await reader_limits(session, auth.actor, (conversation_id,))
            messages, more = await topic_page(
                session, conversation_id, key, after=after, before=before, hidden_places=limits.hidden_places
            )
    except ChatError:
        return _not_found(request)
    if not messages and after == 0 and before is None:
        return _not_found(request)
    await _log_if_outsider(request, auth.actor, conversation_id, key)
    base = f"/archive/{conversation_id}/topic?"
    newer_exist, older_exist = (more, after > 0) if before is None else (True, more)
    newer = base + urlencode({"key": key, "after": messages[-1]["id"]}) if messages and newer_exist else None
    older = base + urlencode({"key": key, "before": messages[0]["id"]}) if messages and older_exist else None
    return _page(
        request,
        "archive/topic.html",
        auth.actor,
        conversation=conversation,
        title=title,
        topic=messages[0]["topic"] if messages else "",
        messages=messages,
        newer=newer,
        older=older,
        page_max=PAGE_MAX,
    )


async def _log_if_outsider(request: Request, actor: Actor, conversation_id: int, topic_key: str | None) -> None:
    """An admin reading a conversation they could not see otherwise leaves an event (audience admins)."""
    async with services(request).db.transaction() as session:
        await log_outsider_view(session, actor, conversation_id, topic_key)


async def _open(session: AsyncSession, actor: Actor, conversation_id: int) -> tuple[Any, str]:
    """The conversation (404 unless the actor may read its archive) and its title."""
    conversation = await access_archive(session, actor, conversation_id)
    return conversation, (await archive_titles(session, [conversation_id]))[conversation_id]


def _page(request: Request, template: str, actor: Actor, **context: Any) -> Response:
    boot = {"user": user_json(actor), "api": "/api/v1", "lang": language(request)}
    return render(request, template, boot=boot, user=actor, **context)


routes: list[BaseRoute] = [
    Route("/archive", archive_home, methods=["GET"], name="archive"),
    Route("/archive/{id:id}", conversation_page, methods=["GET"], name="archive-conversation"),
    Route("/archive/{id:id}/topic", topic_view, methods=["GET"], name="archive-topic"),
]

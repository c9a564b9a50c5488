"""REST endpoints: messages, reactions, topics, read markers.

Thin: authenticate, parse, one domain call in a transaction (reads in a read
session), answer JSON. ``POST …/messages`` answers 201 for a new message and
200 for a retry with the same nonce (nothing stored). Posting is rate limited
per user (``post_limit_per_user`` posts per ``post_limit_window_s``; 429
``rate_limited`` with ``Retry-After``); the limiter lives in
``services.post_limiter``, which the websocket shares.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.history import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MessageHistory,
    MessagePage,
    TopicList,
    get_message,
    list_messages,
    list_topics,
    message_history,
)
from chat.channels.message_commands import (
    TOPIC_MAX,
    DeleteMessage,
    EditMessage,
    MarkRead,
    PostMessage,
    SetTopicVisibility,
    UpdateTopic,
)
from chat.channels.message_views import MessageOut
from chat.channels.messages import ReactionChanged, delete_message, edit_message, post_message, react, unreact
from chat.channels.reads import ReadState, mark_read
from chat.channels.topics import TopicUpdated, TopicVisibility, set_topic_visibility, update_topic
from chat.store import workspace
from chat.web.auth import require_actor
from chat.web.http import int_query, json_ok, path_id, path_text, read_command, text_query
from chat.web.openapi import Query, api_route
from chat.web.state import services

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")
_AUTH = ("not_authenticated", "csrf_failed")
_CONV = ("conversation_not_found", "not_allowed", "conversation_archived")
_MSG = ("message_not_found", "not_author", "not_allowed", "conversation_archived", "message_deleted")
_BODY_TEXT = ("empty_body", "body_too_long")


# --- messages -----------------------------------------------------------------------------


async def post(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, PostMessage)
    svc = services(request)
    svc.post_limiter.hit(str(actor.id))
    conversation_id, max_chars = path_id(request), svc.settings.max_message_chars
    posted = await svc.db.write(
        lambda session: post_message(session, actor, conversation_id, cmd, max_chars=max_chars, defaults=svc.settings)
    )
    return json_ok(posted.message, status=201 if posted.created else 200)


async def history(request: Request) -> Response:
    actor = await require_actor(request)
    limit = int_query(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = int_query(request, "before", 1)
    after = int_query(request, "after", 0)
    topic = text_query(request, "topic", TOPIC_MAX * 4)
    async with services(request).db.read() as session:
        page = await list_messages(
            session, actor, path_id(request), topic=topic, before=before, after=after, limit=limit
        )
    return json_ok(page)


async def show(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await get_message(session, actor, path_id(request)))


async def edit(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, EditMessage)
    svc = services(request)
    async with svc.db.transaction() as session:
        window = (await workspace.load(session, svc.settings)).edit_window_s
        message = await edit_message(
            session, actor, path_id(request), cmd, max_chars=svc.settings.max_message_chars, edit_window_s=window
        )
    return json_ok(message)


async def revisions(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await message_history(session, actor, path_id(request)))


async def remove(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, DeleteMessage)
    svc = services(request)
    async with svc.db.transaction() as session:
        window = (await workspace.load(session, svc.settings)).delete_window_s
        return json_ok(await delete_message(session, actor, path_id(request), cmd, delete_window_s=window))


async def add_reaction(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        changed = await react(session, actor, path_id(request), path_text(request, "emoji"))
    return json_ok(changed)


async def remove_reaction(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        changed = await unreact(session, actor, path_id(request), path_text(request, "emoji"))
    return json_ok(changed)


# --- topics and read markers ------------------------------------------------------------------


async def topics(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await list_topics(session, actor, path_id(request)))


async def change_topic(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, UpdateTopic)
    async with services(request).db.transaction() as session:
        return json_ok(await update_topic(session, actor, path_id(request), cmd))


async def visibility(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, SetTopicVisibility)
    async with services(request).db.transaction() as session:
        state = await set_topic_visibility(session, actor, path_id(request), path_text(request, "topic"), cmd)
    return json_ok(state)


async def read(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, MarkRead)
    async with services(request).db.transaction() as session:
        return json_ok(await mark_read(session, actor, path_id(request), cmd))


routes: list[BaseRoute] = [
    api_route(
        "POST",
        "/conversations/{id:id}/messages",
        post,
        "Post a message (201; a retry with the same nonce answers 200 with the stored message)",
        request=PostMessage,
        response=MessageOut,
        status=201,
        also=(200,),
        errors=(
            *_BODY,
            *_AUTH,
            *_CONV,
            *_BODY_TEXT,
            "too_long",
            "empty",
            "topic_required",
            "topic_not_allowed",
            "nonce_reused",
            "rate_limited",
        ),
    ),
    api_route(
        "GET",
        "/conversations/{id:id}/messages",
        history,
        "A page of history, oldest to newest (newest page by default; anchors are message ids)",
        response=MessagePage,
        query=[
            Query("topic", str, "only this topic (without regard to case)"),
            Query("before", int, "messages older than this message id"),
            Query("after", int, "messages newer than this message id"),
            Query("limit", int, f"page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        ],
        errors=("not_authenticated", "conversation_not_found", "wrong_type", "out_of_range", "conflicting_anchors"),
    ),
    api_route(
        "GET",
        "/messages/{id:id}",
        show,
        "One message (404 message_not_found if missing or not visible to you)",
        response=MessageOut,
        errors=("not_authenticated", "message_not_found"),
    ),
    api_route(
        "PATCH",
        "/messages/{id:id}",
        edit,
        "Edit your own message; every revision is kept",
        request=EditMessage,
        response=MessageOut,
        errors=(*_BODY, *_AUTH, *_MSG, *_BODY_TEXT, "message_redacted"),
    ),
    api_route(
        "GET",
        "/messages/{id:id}/history",
        revisions,
        "Every revision of a message: posted, edited, moved (none once deleted)",
        response=MessageHistory,
        errors=("not_authenticated", "message_not_found"),
    ),
    api_route(
        "DELETE",
        "/messages/{id:id}",
        remove,
        "Delete a message (author, or moderator/admin): it becomes a tombstone (who, when, why)",
        request=DeleteMessage,
        response=MessageOut,
        errors=(*_BODY, *_AUTH, *_MSG, "too_long"),
    ),
    api_route(
        "PUT",
        "/messages/{id:id}/reactions/{emoji}",
        add_reaction,
        "Add your reaction (idempotent: adding it again changes nothing)",
        response=ReactionChanged,
        errors=(*_AUTH, *_MSG, "not_an_emoji"),
    ),
    api_route(
        "DELETE",
        "/messages/{id:id}/reactions/{emoji}",
        remove_reaction,
        "Remove your reaction (idempotent)",
        response=ReactionChanged,
        errors=(*_AUTH, *_MSG, "not_an_emoji"),
    ),
    api_route(
        "GET",
        "/conversations/{id:id}/topics",
        topics,
        "The topics of a conversation: name, message count, last message, your unread count and mode",
        response=TopicList,
        errors=("not_authenticated", "conversation_not_found"),
    ),
    api_route(
        "PATCH",
        "/conversations/{id:id}/topics",
        change_topic,
        "Rename, resolve/unresolve or move a topic (scope: all, one message, or it and later ones)",
        request=UpdateTopic,
        response=TopicUpdated,
        errors=(
            *_BODY,
            *_AUTH,
            *_CONV,
            "too_long",
            "empty",
            "out_of_range",
            "wrong_value",
            "nothing_to_change",
            "topic_not_found",
            "topic_not_allowed",
            "message_not_found",
        ),
    ),
    api_route(
        "PUT",
        "/conversations/{id:id}/topics/{topic:path}/visibility",
        visibility,
        "Mute or follow a topic for yourself (default clears it)",
        request=SetTopicVisibility,
        response=TopicVisibility,
        errors=(*_BODY, *_AUTH, "conversation_not_found", "wrong_value", "too_long", "empty", "topic_not_allowed"),
    ),
    api_route(
        "POST",
        "/conversations/{id:id}/read",
        read,
        "Mark messages read up to an id: the whole conversation, or one topic",
        request=MarkRead,
        response=ReadState,
        errors=(*_BODY, *_AUTH, "conversation_not_found", "out_of_range", "too_long", "empty", "topic_not_allowed"),
    ),
]

"""REST endpoints: conversations, direct conversations, members, stars.

Thin: authenticate, parse the body into a command, call one domain function
in a transaction (reads in a read session), answer JSON. The policy decides
everything (``chat.channels.policy``); the workspace's ``invite_policy`` and
``channel_creation`` settings, read in the request's own transaction
(``chat.store.workspace``, so a change applies at once), are handed to the
action as facts.

``GET /conversations?browse=public`` lists every public channel with a
``joined`` flag. For a guest it lists only the public channels they were
added to, as Zulip's ``GET /streams`` silently ignores ``include_public`` for
guests: a filtered list, not a 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.commands import NAME_MAX, AddMember, CreateConversation, OpenDirect, SetStar, UpdateConversation
from chat.channels.conversations import (
    MemberChange,
    StarState,
    add_member,
    create_conversation,
    remove_member,
    set_star,
    update_conversation,
)
from chat.channels.direct import get_or_create_direct
from chat.channels.overview import PAGE_MAX, ConversationOverview, OverviewFilter, list_managed
from chat.channels.queries import (
    ConversationInfo,
    ConversationList,
    MemberList,
    get_conversation,
    list_conversations,
    list_members,
    list_public,
)
from chat.errors import Invalid
from chat.store import workspace
from chat.web.auth import require_actor
from chat.web.http import flag_query, int_query, json_ok, path_id, read_command, text_query
from chat.web.openapi import Query, api_route
from chat.web.state import services

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")
_AUTH = ("not_authenticated", "csrf_failed")
_DENIED = ("conversation_not_found", "not_allowed", "conversation_archived")


async def list_mine(request: Request) -> Response:
    actor = await require_actor(request)
    browse = request.query_params.get("browse")
    if browse not in (None, "public"):
        raise Invalid("wrong_value", "browse must be 'public'", field="browse")
    async with services(request).db.read() as session:
        if browse == "public":
            return json_ok(await list_public(session, actor))
        return json_ok(await list_conversations(session, actor))


async def overview(request: Request) -> Response:
    actor = await require_actor(request)
    kind = request.query_params.get("kind") or None
    if kind not in (None, "public", "private"):
        raise Invalid("wrong_value", "kind must be 'public' or 'private'", field="kind")
    wanted = OverviewFilter(
        q=text_query(request, "q", NAME_MAX),
        kind=kind,  # type: ignore[arg-type]
        archived=flag_query(request, "archived"),
        is_default=flag_query(request, "default"),
        limit=int_query(request, "limit", 1, PAGE_MAX) or OverviewFilter.limit,
        offset=int_query(request, "offset", 0) or 0,
    )
    async with services(request).db.read() as session:
        return json_ok(await list_managed(session, actor, wanted))


async def create(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, CreateConversation)
    svc = services(request)
    async with svc.db.transaction() as session:
        rule = (await workspace.load(session, svc.settings)).channel_creation
        info = await create_conversation(session, actor, cmd, channel_creation=rule)
    return json_ok(info, status=201)


async def show(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await get_conversation(session, actor, path_id(request)))


async def update(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, UpdateConversation)
    async with services(request).db.transaction() as session:
        info = await update_conversation(session, actor, path_id(request), cmd)
    return json_ok(info)


async def open_direct(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, OpenDirect)
    async with services(request).db.transaction() as session:
        opened = await get_or_create_direct(session, actor, cmd)
    return json_ok(opened.conversation, status=201 if opened.created else 200)


async def members(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await list_members(session, actor, path_id(request)))


async def add(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, AddMember)
    svc = services(request)
    async with svc.db.transaction() as session:
        rule = (await workspace.load(session, svc.settings)).invite_policy
        change = await add_member(session, actor, path_id(request), cmd, invite_policy=rule)
    return json_ok(change)


async def remove(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        change = await remove_member(session, actor, path_id(request), path_id(request, "user_id"))
    return json_ok(change)


async def star(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, SetStar)
    async with services(request).db.transaction() as session:
        state = await set_star(session, actor, path_id(request), cmd)
    return json_ok(state)


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/conversations",
        list_mine,
        "Your conversations; with browse=public, every public channel you may see (with joined)",
        response=ConversationList,
        query=[Query("browse", str, "public: the directory of public channels (guests: only their own)")],
        errors=("not_authenticated", "wrong_value"),
    ),
    api_route(
        "GET",
        "/admin/conversations",
        overview,
        "Admin: every channel and group (no content), with member counts and owners; direct ones only counted",
        response=ConversationOverview,
        query=[
            Query("q", str, "part of the name, any case"),
            Query("kind", str, "public or private"),
            Query("archived", bool, "true: only archived ones; false: only live ones"),
            Query("default", bool, "true: only default channels"),
            Query("limit", int, f"1 to {PAGE_MAX} (default 50)"),
            Query("offset", int, "skip this many"),
        ],
        errors=("not_authenticated", "admin_required", "wrong_value", "wrong_type", "out_of_range", "too_long"),
    ),
    api_route(
        "POST",
        "/conversations",
        create,
        "Create a public channel or a private group; you become its first member",
        request=CreateConversation,
        response=ConversationInfo,
        status=201,
        errors=(*_BODY, *_AUTH, "wrong_value", "too_long", "empty", "bad_format", "name_taken", "not_allowed"),
    ),
    api_route(
        "GET",
        "/conversations/{id:id}",
        show,
        "One conversation (404 conversation_not_found if missing or not visible to you)",
        response=ConversationInfo,
        errors=("not_authenticated", "conversation_not_found"),
    ),
    api_route(
        "PATCH",
        "/conversations/{id:id}",
        update,
        "Rename, describe, (un)archive, hand over (owner_id) or mark as default (is_default) a conversation",
        request=UpdateConversation,
        response=ConversationInfo,
        errors=(
            *_BODY,
            *_AUTH,
            *_DENIED,
            "too_long",
            "empty",
            "bad_format",
            "name_taken",
            "out_of_range",
            "user_not_found",
            "bad_owner",
            "default_public_only",
        ),
    ),
    api_route(
        "POST",
        "/direct",
        open_direct,
        "The direct conversation with these people (201 when created, 200 when it existed)",
        request=OpenDirect,
        response=ConversationInfo,
        status=201,
        also=(200,),
        errors=(*_BODY, *_AUTH, "too_many", "too_many_members", "user_not_found"),
    ),
    api_route(
        "GET",
        "/conversations/{id:id}/members",
        members,
        "The members of a conversation you may see",
        response=MemberList,
        errors=("not_authenticated", "conversation_not_found", "not_allowed"),
    ),
    api_route(
        "POST",
        "/conversations/{id:id}/members",
        add,
        "Join (your own user_id) or add someone else",
        request=AddMember,
        response=MemberChange,
        errors=(*_BODY, *_AUTH, *_DENIED, "out_of_range", "user_not_found"),
    ),
    api_route(
        "DELETE",
        "/conversations/{id:id}/members/{user_id:id}",
        remove,
        "Leave (your own user_id) or remove someone",
        response=MemberChange,
        errors=(*_AUTH, "conversation_not_found", "not_allowed", "member_not_found"),
    ),
    api_route(
        "PUT",
        "/conversations/{id:id}/star",
        star,
        "Star or unstar a conversation you are a member of",
        request=SetStar,
        response=StarState,
        errors=(*_BODY, *_AUTH, "conversation_not_found", "not_allowed"),
    ),
]

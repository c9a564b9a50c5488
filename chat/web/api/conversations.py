"""REST endpoints: conversations, direct conversations, members, stars.

Thin: authenticate, parse the body into a command, call one domain function
in a transaction (reads in a read session), answer JSON. The policy decides
everything (``chat.channels.policy``); the server's ``invite_policy`` setting
is handed to the action as a fact.

``GET /conversations?browse=public`` lists every public channel with a
``joined`` flag. For a guest it lists only the public channels they were
added to, as Zulip's ``GET /streams`` silently ignores ``include_public`` for
guests: a filtered list, not a 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.commands import AddMember, CreateConversation, OpenDirect, SetStar, UpdateConversation
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
from chat.web.auth import require_actor
from chat.web.http import json_ok, path_id, read_command
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


async def create(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, CreateConversation)
    async with services(request).db.transaction() as session:
        info = await create_conversation(session, actor, cmd)
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
        change = await add_member(session, actor, path_id(request), cmd, invite_policy=svc.settings.invite_policy)
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
        "Rename, describe, archive or unarchive a conversation",
        request=UpdateConversation,
        response=ConversationInfo,
        errors=(*_BODY, *_AUTH, *_DENIED, "too_long", "empty", "bad_format", "name_taken"),
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

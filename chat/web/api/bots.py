"""REST endpoints for bots: create one, list them with their tokens, issue and revoke a token.

A bot is deactivated like any account (``PATCH /api/v1/users/{id}``, admins).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.accounts.bots import BotList, issue_bot_token, list_bots, revoke_bot_token
from chat.accounts.commands import CreateToken, NewBot
from chat.accounts.results import BotCreated, TokenCreated
from chat.accounts.tokens import create_bot
from chat.web.api.accounts import _BODY_ERRORS
from chat.web.auth import require_actor
from chat.web.http import json_ok, path_id, read_command
from chat.web.openapi import api_route
from chat.web.state import services


async def new_bot(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, NewBot)
    async with services(request).db.transaction() as session:
        owner = cmd.owner_id if cmd.owner_id is not None else actor.id
        created = await create_bot(session, actor, cmd.username, owner, display_name=cmd.display_name)
    return json_ok(created, status=201)


async def bots(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await list_bots(session, actor))


async def new_bot_token(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, CreateToken)
    async with services(request).db.transaction() as session:
        created = await issue_bot_token(session, actor, path_id(request), cmd)
    return json_ok(created, status=201)


async def delete_bot_token(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        await revoke_bot_token(session, actor, path_id(request), path_id(request, "token_id"))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    api_route(
        "POST",
        "/bots",
        new_bot,
        "Create a bot (admins: for any owner; others: their own) and its first token (shown once)",
        request=NewBot,
        response=BotCreated,
        status=201,
        errors=(
            *_BODY_ERRORS,
            "not_authenticated",
            "csrf_failed",
            "forbidden",
            "user_not_found",
            "bad_owner",
            "username_taken",
            "username_reserved",
            "display_name_taken",
            "too_long",
            "too_short",
            "bad_format",
            "out_of_range",
            "empty",
        ),
    ),
    api_route(
        "GET",
        "/bots",
        bots,
        "Bots with their owner and tokens (admins: all; others: the bots they own)",
        response=BotList,
        errors=("not_authenticated",),
    ),
    api_route(
        "POST",
        "/bots/{id:id}/tokens",
        new_bot_token,
        "Issue a token for a bot (its owner or an admin; shown once)",
        request=CreateToken,
        response=TokenCreated,
        status=201,
        errors=(*_BODY_ERRORS, "not_authenticated", "csrf_failed", "bot_not_found", "too_long", "empty"),
    ),
    api_route(
        "DELETE",
        "/bots/{id:id}/tokens/{token_id:id}",
        delete_bot_token,
        "Revoke a bot's token (its owner or an admin); its sockets close",
        status=204,
        errors=("not_authenticated", "csrf_failed", "bot_not_found", "token_not_found"),
    ),
]

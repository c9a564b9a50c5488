"""REST endpoints: a conversation's mail address (``chat.mail.channel_address``).

``GET`` shows it (members, and those who manage the conversation), ``POST`` makes or regenerates
it (a new address revokes the old one), ``DELETE`` revokes it, ``PATCH`` sets
``outside_senders``. Thin: authenticate, parse, one action in a transaction, answer JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.domain.actors import Actor
from chat.mail.channel_address import (
    MailAddressOut,
    SetOutsideSenders,
    get_mail_address,
    regenerate_mail_address,
    revoke_mail_address,
    set_outside_senders,
)
from chat.web.auth import require_actor
from chat.web.http import json_ok, path_id, read_command
from chat.web.openapi import api_route
from chat.web.state import services

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")
_AUTH = ("not_authenticated", "csrf_failed")
_CONV = ("conversation_not_found", "not_allowed", "mail_domain_unset")
_PATH = "/conversations/{id:id}/mail-address"


Action = Callable[[AsyncSession, Actor, int, str], Awaitable[MailAddressOut]]


async def _answer(request: Request, action: Action) -> Response:
    actor = await require_actor(request)
    svc = services(request)
    async with svc.db.transaction() as session:
        return json_ok(await action(session, actor, path_id(request), svc.settings.mail_domain))


async def show(request: Request) -> Response:
    return await _answer(request, get_mail_address)


async def regenerate(request: Request) -> Response:
    return await _answer(request, regenerate_mail_address)


async def revoke(request: Request) -> Response:
    return await _answer(request, revoke_mail_address)


async def change(request: Request) -> Response:
    cmd = await read_command(request, SetOutsideSenders)
    return await _answer(
        request, lambda session, actor, cid, domain: set_outside_senders(session, actor, cid, cmd, domain)
    )


routes: list[BaseRoute] = [
    api_route(
        "GET",
        _PATH,
        show,
        "The conversation's mail address (null: none) and whether outside senders may write to it",
        response=MailAddressOut,
        errors=("not_authenticated", *_CONV),
    ),
    api_route(
        "POST",
        _PATH,
        regenerate,
        "Make or regenerate the conversation's mail address (the old address stops working)",
        response=MailAddressOut,
        errors=(*_AUTH, *_CONV, "conversation_archived"),
    ),
    api_route(
        "DELETE",
        _PATH,
        revoke,
        "Revoke the conversation's mail address",
        response=MailAddressOut,
        errors=(*_AUTH, *_CONV),
    ),
    api_route(
        "PATCH",
        _PATH,
        change,
        "Let people who are not users write to the address (they post as external guests), or not",
        request=SetOutsideSenders,
        response=MailAddressOut,
        errors=(*_BODY, *_AUTH, *_CONV, "conversation_archived"),
    ),
]

"""REST endpoints: Web Push, the server's VAPID key and your browsers' subscriptions.

Thin: authenticate, parse (``chat.push.subscriptions.parse_*``), check the endpoint's
address (``chat.push.endpoints``: resolved on a thread, before the transaction), one domain
call, answer. What is pushed, and when, is the notifier's business; this only registers
where to.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.push.endpoints import check_endpoint
from chat.push.subscriptions import (
    PushDevice,
    Subscribe,
    Unsubscribe,
    list_devices,
    parse_subscribe,
    parse_unsubscribe,
    subscribe,
    unsubscribe,
)
from chat.push.vapid import load_key
from chat.web.auth import client_info, require_actor
from chat.web.http import json_ok, read_json
from chat.web.openapi import api_route
from chat.web.state import services

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")


@dataclass(frozen=True)
class PushKey:
    """The server's VAPID public key: ``applicationServerKey`` for ``pushManager.subscribe``."""

    public_key: str  # base64url of the uncompressed P-256 point (65 bytes)


async def show_key(request: Request) -> Response:
    await require_actor(request)
    svc = services(request)
    key = await svc.push.key() if svc.push is not None else await load_key(svc.db, svc.settings)
    return json_ok(PushKey(public_key=key.public_key))


async def add_subscription(request: Request) -> Response:
    actor = await require_actor(request)
    svc = services(request)
    insecure = svc.settings.push_allow_insecure_endpoints
    cmd = parse_subscribe(await read_json(request), allow_insecure=insecure)
    await check_endpoint(cmd.endpoint, allow_insecure=insecure)
    async with svc.db.transaction() as session:
        device, created = await subscribe(session, actor, cmd, client_info(request).user_agent)
    return json_ok(device, status=201 if created else 200)


async def remove_subscription(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = parse_unsubscribe(await read_json(request))
    async with services(request).db.transaction() as session:
        await unsubscribe(session, actor, cmd)
    return Response(status_code=204)


async def my_subscriptions(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await list_devices(session, actor))


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/push/key",
        show_key,
        "The server's VAPID public key, for the browser's pushManager.subscribe",
        response=PushKey,
        errors=("not_authenticated",),
    ),
    api_route(
        "GET",
        "/push/subscriptions",
        my_subscriptions,
        "Your browsers subscribed to push notifications",
        response=list[PushDevice],
        errors=("not_authenticated",),
    ),
    api_route(
        "POST",
        "/push/subscriptions",
        add_subscription,
        "Subscribe this browser to push notifications (its PushSubscription JSON); the same endpoint again "
        "updates it (200), and moves it to you if another account had it with the same keys (else 409 "
        "push_endpoint_taken, nothing changes)",
        request=Subscribe,
        response=PushDevice,
        status=201,
        also=(200,),
        errors=(
            *_BODY,
            "not_authenticated",
            "csrf_failed",
            "empty",
            "too_long",
            "bad_format",
            "bad_url",
            "bad_push_key",
            "push_endpoint_not_allowed",
            "push_subscription_limit",
            "push_endpoint_taken",
        ),
    ),
    api_route(
        "DELETE",
        "/push/subscriptions",
        remove_subscription,
        "Unsubscribe one of your browsers (by its endpoint)",
        request=Unsubscribe,
        status=204,
        errors=(*_BODY, "not_authenticated", "csrf_failed", "empty", "too_long", "bad_format", "not_found"),
    ),
]

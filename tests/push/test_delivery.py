"""Delivery end to end: a browser subscribes through the API, the server pushes a notice, and a
real push service on 127.0.0.1 (``tests.push.service``) receives it; the test checks the VAPID
token as a push service would and decrypts the body as the browser would (``http_ece``).

The endpoints here are http://127.0.0.1, so these tests allow insecure endpoints
(``CHAT_PUSH_ALLOW_INSECURE_ENDPOINTS=1``); the last ones show that a sender with the
production rule refuses the same endpoints when it sends.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator

import httpx2
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from chat.config import Settings
from chat.push import vapid
from chat.push.endpoints import PublicResolver
from chat.push.notice import PushNotice
from chat.push.sender import TTL_S, PushSender
from chat.store import models
from chat.store.db import Database
from tests.factories import Cast
from tests.push.service import BrowserKeys, PushService, vapid_claims
from tests.web.authhelp import as_user

API = "/api/v1"

NOTICE = PushNotice(
    title="Alice in #sales › Q3 tender",
    body="Can you send the figures <b>today</b>? 1 < 2 & “quotes” — été",
    url="https://chat.example.com/#/c/4/m/981",
    tag="c4",
    conversation_id=4,
    message_id=981,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, push_allow_insecure_endpoints=True, mail_from="Salon <ops@example.com>")


@pytest.fixture
async def service() -> AsyncIterator[PushService]:
    async with PushService() as svc:
        yield svc


def sender(app: Starlette) -> PushSender:
    push: PushSender | None = app.state.services.push
    assert push is not None
    return push


async def subscribe(client: httpx2.AsyncClient, headers: dict[str, str], endpoint: str) -> BrowserKeys:
    browser = BrowserKeys()
    response = await client.post(f"{API}/push/subscriptions", json=browser.subscription(endpoint), headers=headers)
    assert response.status_code == 201, response.text
    return browser


async def rows(db: Database) -> dict[str, models.PushSubscription]:
    async with db.read() as session:
        found = await session.scalars(select(models.PushSubscription))
        return {row.endpoint: row for row in found}


async def test_a_notice_reaches_every_browser_of_the_user_signed_and_encrypted(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService
) -> None:
    bob, carol = await as_user(client, app, cast.bob), await as_user(client, app, cast.carol)
    phone = await subscribe(client, bob, service.endpoint("phone"))
    laptop = await subscribe(client, bob, service.endpoint("laptop"))
    await subscribe(client, carol, service.endpoint("carol"))
    public_key = (await client.get(f"{API}/push/key", headers=bob)).json()["public_key"]

    await sender(app).notify(cast.bob.id, NOTICE)

    received = {r.path: r for r in service.received}
    assert sorted(received) == ["/push/laptop", "/push/phone"]  # carol's browser got nothing
    for path, browser in (("/push/phone", phone), ("/push/laptop", laptop)):
        request = received[path]
        claims = vapid_claims(request.headers["authorization"], public_key)
        assert claims["aud"] == service.origin
        assert claims["sub"] == "mailto:ops@example.com"
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600
        assert request.headers["content-encoding"] == "aes128gcm"
        assert request.headers["ttl"] == str(TTL_S)
        assert request.headers["urgency"] == "high"
        assert request.headers["topic"] == "c4"
        assert NOTICE.body.encode() not in request.body  # encrypted on the wire
        plain = browser.decrypt(request.body)
        assert plain == NOTICE.payload()
        assert json.loads(plain) == {
            "title": NOTICE.title,
            "body": NOTICE.body,
            "url": NOTICE.url,
            "tag": "c4",
            "conversation_id": 4,
            "message_id": 981,
        }
    # each browser's body is encrypted for that browser only
    with pytest.raises(Exception):  # noqa: B017 - http_ece raises its own error type or InvalidTag
        phone.decrypt(received["/push/laptop"].body)
    used = await rows(app.state.services.db)
    assert used[service.endpoint("phone")].last_used_at is not None
    assert used[service.endpoint("carol")].last_used_at is None


async def test_a_routine_notice_is_not_urgent(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService
) -> None:
    bob = await as_user(client, app, cast.bob)
    await subscribe(client, bob, service.endpoint("phone"))
    await sender(app).notify(cast.bob.id, dataclasses.replace(NOTICE, urgent=False, tag="not a topic!"))
    (request,) = service.received
    assert request.headers["urgency"] == "normal"
    assert "topic" not in request.headers  # only base64url tags of up to 32 characters are topics


async def test_a_subscription_the_push_service_says_is_gone_is_deleted(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService
) -> None:
    bob = await as_user(client, app, cast.bob)
    for name in ("gone", "expired", "broken", "fine"):
        await subscribe(client, bob, service.endpoint(name))
    service.statuses.update({"/push/gone": 410, "/push/expired": 404, "/push/broken": 500})

    await sender(app).notify(cast.bob.id, NOTICE)  # a 500 is logged, never raised

    assert len(service.received) == 4
    left = await rows(app.state.services.db)
    assert sorted(left) == [service.endpoint("broken"), service.endpoint("fine")]
    assert left[service.endpoint("broken")].last_used_at is None
    assert left[service.endpoint("fine")].last_used_at is not None
    listed = await client.get(f"{API}/push/subscriptions", headers=bob)
    assert sorted(d["endpoint"] for d in listed.json()) == sorted(left)


async def test_redirects_are_not_followed(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService
) -> None:
    bob = await as_user(client, app, cast.bob)
    await subscribe(client, bob, service.endpoint("moved"))
    service.redirects["/push/moved"] = service.endpoint("elsewhere")
    await sender(app).notify(cast.bob.id, NOTICE)
    assert [r.path for r in service.received] == ["/push/moved"]
    assert service.endpoint("moved") in await rows(app.state.services.db)  # not a 404/410: kept


async def test_a_push_service_that_never_answers_is_given_up(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService, settings: Settings
) -> None:
    bob = await as_user(client, app, cast.bob)
    await subscribe(client, bob, service.endpoint("slow"))
    await subscribe(client, bob, service.endpoint("quick"))
    service.hang.add("/push/slow")
    patient = PushSender(app.state.services.db, settings, timeout_s=0.5)
    await patient.notify(cast.bob.id, NOTICE)  # returns once the slow one times out; nothing raised
    left = await rows(app.state.services.db)
    assert left[service.endpoint("quick")].last_used_at is not None
    assert left[service.endpoint("slow")].last_used_at is None


async def test_a_user_without_subscriptions_costs_nothing(app: Starlette, cast: Cast, service: PushService) -> None:
    await sender(app).notify(cast.bob.id, NOTICE)
    assert service.received == []


async def test_sending_checks_the_endpoint_again(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService, settings: Settings
) -> None:
    """Each send checks the endpoint with the rule in force: subscriptions stored under the tests'
    rule (http, loopback) get nothing from a sender with the production rule. (These endpoints are
    refused for being http; the address rule at send time is the same ``check_endpoint`` the API
    tests exercise with https endpoints, and the connection's own check is the next test.)"""
    bob = await as_user(client, app, cast.bob)
    await subscribe(client, bob, service.endpoint("inside"))
    await subscribe(client, bob, f"http://localhost:{service.port}/push/by-name")
    strict = PushSender(app.state.services.db, dataclasses.replace(settings, push_allow_insecure_endpoints=False))
    await strict.notify(cast.bob.id, NOTICE)
    assert service.received == []
    assert len(await rows(app.state.services.db)) == 2  # refused, not deleted: the rule may change back


async def test_the_http_client_connects_only_to_public_addresses() -> None:
    resolver = PublicResolver()
    try:
        with pytest.raises(OSError, match="not public"):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mail_from": "Salon <ops@example.com>"}, "mailto:ops@example.com"),
        ({"mail_from": "", "public_origin": "https://chat.example.com:8443"}, "https://chat.example.com"),
        ({"mail_from": "", "public_origin": "http://chat.example.com"}, "mailto:salon@chat.example.com"),
        ({"mail_from": "", "public_origin": "", "mail_domain": "mail.example.org"}, "mailto:salon@mail.example.org"),
        ({"mail_from": "", "public_origin": "", "mail_domain": ""}, "mailto:salon@localhost"),
    ],
)
def test_the_vapid_subject_names_whoever_runs_the_server(
    settings: Settings, changes: dict[str, str], expected: str
) -> None:
    configured = dataclasses.replace(settings, **changes)
    assert vapid.subject(configured) == expected
    key = vapid.VapidKey.from_secret(vapid.make_private_key(), expected)
    claims = vapid_claims(key.authorization("https://push.example.net/x/1"), key.public_key)
    assert claims["sub"] == expected and claims["aud"] == "https://push.example.net"


async def test_one_browser_that_cannot_be_sent_to_does_not_stop_the_others(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService
) -> None:
    bob = await as_user(client, app, cast.bob)
    browser = await subscribe(client, bob, service.endpoint("good"))
    db: Database = app.state.services.db
    async with db.transaction() as session:  # a row no request could make (the API checks keys)
        session.add(
            models.PushSubscription(user_id=cast.bob.id, endpoint=service.endpoint("bad"), p256dh="AAAA", auth="x")
        )
    await sender(app).notify(cast.bob.id, NOTICE)
    assert [r.path for r in service.received] == ["/push/good"]
    assert browser.decrypt(service.received[0].body) == NOTICE.payload()

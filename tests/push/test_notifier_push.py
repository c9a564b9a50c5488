"""Notifier to browser, as ``create_app`` wires it: a message posted over the API, the app's own
notifier decides, its ``PushSender`` encrypts and signs, and a real push service on 127.0.0.1
(``tests.push.service``) receives it; the test checks the VAPID token as the push service would
and decrypts the body as the subscribed browser would.

The first test runs a real server (the lifespan starts the notifier, and each commit pokes it);
the others call the app's notifier's ``run_once`` themselves, so that "nothing was pushed" is
known once it returns (a pass waits for its batch's pushes; the push service answers at once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from chat.app import create_app
from chat.config import Settings
from chat.mail.notifier import Notifier, notifier_position
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel
from tests.conftest import Live
from tests.factories import Cast
from tests.push.service import BrowserKeys, PushService, Received, vapid_claims
from tests.push.test_delivery import service, subscribe
from tests.web.authhelp import as_user

__all__ = ["service"]  # fixtures

API = "/api/v1"
ORIGIN = "https://chat.example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, push_allow_insecure_endpoints=True)  # the push service is on 127.0.0.1


async def posted(http: httpx2.AsyncClient, headers: dict[str, str], conversation: int, body: str, **kw: Any) -> int:
    response = await http.post(
        f"{API}/conversations/{conversation}/messages", json={"body": body, "nonce": body, **kw}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def open_direct(http: httpx2.AsyncClient, headers: dict[str, str], other: int) -> int:
    response = await http.post(f"{API}/direct", json={"user_ids": [other]}, headers=headers)
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


async def arrived(service: PushService, path: str, count: int) -> list[Received]:
    async with asyncio.timeout(30):
        while True:
            got = [r for r in service.received if r.path == path]
            if len(got) >= count:
                return got
            await asyncio.sleep(0.02)


def opened(request: Received, browser: BrowserKeys, public_key: str, service: PushService) -> dict[str, Any]:
    """What the browser reads, after the checks a push service makes."""
    assert vapid_claims(request.headers["authorization"], public_key)["aud"] == service.origin
    assert request.headers["content-encoding"] == "aes128gcm" and request.headers["urgency"] == "high"
    notice: dict[str, Any] = json.loads(browser.decrypt(request.body))
    return notice


async def test_a_dm_and_a_mention_over_the_api_reach_the_offline_users_browser(
    app: Starlette, db: Database, cast: Cast, service: PushService, live: Live
) -> None:
    async with asyncio.timeout(30):  # the lifespan's notifier made its cursor
        while await notifier_position(db) is None:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.05)
    bob = {"Authorization": f"Bearer {await live.token(cast.bob)}"}
    alice = {"Authorization": f"Bearer {await live.token(cast.alice)}"}
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    async with httpx2.AsyncClient(base_url=live.base_url) as http:
        phone = await subscribe(http, bob, service.endpoint("bob-phone"))
        public_key = (await http.get(f"{API}/push/key", headers=bob)).json()["public_key"]
        dm = await open_direct(http, alice, cast.bob.id)
        first = await posted(http, alice, dm, "are you **there**? <b>now</b>", topic="")
        [request] = await arrived(service, "/push/bob-phone", 1)
        assert opened(request, phone, public_key, service) == {
            "title": "Alice (direct message)",
            "body": "are you there? <b>now</b>",  # the text Salon shows: no markdown, HTML escaped as text
            "url": f"/#/c/{dm}/m/{first}",  # no CHAT_PUBLIC_ORIGIN: the service worker's own origin
            "tag": f"c{dm}",
            "conversation_id": dm,
            "message_id": first,
        }
        second = await posted(http, alice, sales, "@bob the tender is due", topic="Q3 tender")
        request = (await arrived(service, "/push/bob-phone", 2))[1]
        notice = opened(request, phone, public_key, service)
    assert (notice["title"], notice["body"]) == ("Alice in #sales › Q3 tender", "@Bob the tender is due")
    assert notice["url"] == f"/#/c/{sales}/m/{second}"


def notifier_of(app: Starlette) -> Notifier:
    notifier: Notifier = app.state.services.notifier
    return notifier


async def test_with_a_public_origin_the_link_is_absolute(cast: Cast, service: PushService, settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, public_origin=ORIGIN))  # on the same database as ``cast``
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as http:
            bob, alice = await as_user(http, app, cast.bob), await as_user(http, app, cast.alice)
            phone = await subscribe(http, bob, service.endpoint("bob"))
            public_key = (await http.get(f"{API}/push/key", headers=bob)).json()["public_key"]
            await notifier_of(app).run_once()  # the cursor starts
            dm = await open_direct(http, alice, cast.bob.id)
            message = await posted(http, alice, dm, "ping", topic="")
            assert (await notifier_of(app).run_once()).pushed == 1
        [request] = service.received
        assert opened(request, phone, public_key, service)["url"] == f"{ORIGIN}/#/c/{dm}/m/{message}"
    finally:
        await app.state.services.db.dispose()


def quiet_now() -> dict[str, Any]:
    """Quiet hours from an hour ago to an hour ahead, every day (UTC)."""
    now = models.utcnow()
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return {"days": list(range(7)), "start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "time_zone": "UTC"}


@pytest.mark.parametrize("quiet", ["pause", "quiet_hours"])
async def test_a_pause_or_quiet_hours_keep_the_push_back(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, service: PushService, quiet: str
) -> None:
    bob, carol, alice = [await as_user(client, app, who) for who in (cast.bob, cast.carol, cast.alice)]
    await subscribe(client, bob, service.endpoint("bob"))
    await subscribe(client, carol, service.endpoint("carol"))  # the control: she is not paused
    notifier = notifier_of(app)
    await notifier.run_once()  # the cursor starts
    if quiet == "pause":
        change: dict[str, Any] = {"paused_until": (models.utcnow() + timedelta(hours=1)).isoformat()}
    else:
        change = {"quiet_hours": quiet_now()}
    response = await client.patch(f"{API}/me/notifications", json=change, headers=bob)
    assert response.status_code == 200, response.text
    to_bob = await open_direct(client, alice, cast.bob.id)
    to_carol = await open_direct(client, alice, cast.carol.id)
    await posted(client, alice, to_bob, "ping bob", topic="")
    await posted(client, alice, to_carol, "ping carol", topic="")
    report = await notifier.run_once()
    assert report.events >= 2 and report.pushed == 1
    assert [r.path for r in service.received] == ["/push/carol"]
    # resumed: the next one is pushed
    resume = {"paused_until": None, "quiet_hours": None}
    response = await client.patch(f"{API}/me/notifications", json=resume, headers=bob)
    assert response.status_code == 200, response.text
    await posted(client, alice, to_bob, "ping again", topic="")
    assert (await notifier.run_once()).pushed == 1
    assert [r.path for r in service.received] == ["/push/carol", "/push/bob"]

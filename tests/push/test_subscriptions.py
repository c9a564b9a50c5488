"""``/api/v1/push/key`` and ``/api/v1/push/subscriptions``: the VAPID key, storing, listing and
removing browsers' subscriptions, and every bad subscription refused with nothing stored.

These run with the production rule for endpoints (https on a public address): a subscription
is the one URL a user can make the server POST to, so no private address may get through.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from chat.app import create_app
from chat.config import Settings
from chat.push import subscriptions, vapid
from chat.push.endpoints import is_public
from chat.store import models
from chat.store.db import Database
from tests.conftest import Live
from tests.factories import Cast
from tests.push.service import BrowserKeys, b64url
from tests.web.authhelp import as_user

API = "/api/v1"
ENDPOINT = "https://8.8.8.8/push/v1/abc"  # an address literal: public, and no DNS needed to check it


async def stored(db: Database) -> list[tuple[int, str, str, str]]:
    async with db.read() as session:
        rows = await session.execute(
            select(
                models.PushSubscription.user_id,
                models.PushSubscription.endpoint,
                models.PushSubscription.p256dh,
                models.PushSubscription.auth,
            ).order_by(models.PushSubscription.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_the_vapid_key_is_one_p256_point_shared_by_every_process(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, settings: Settings
) -> None:
    bob = await as_user(client, app, cast.bob)
    first = await client.get(f"{API}/push/key", headers=bob)
    assert first.status_code == 200
    key = first.json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4 and "=" not in key
    assert (await client.get(f"{API}/push/key", headers=bob)).json() == {"public_key": key}

    other = create_app(settings)  # a second process on the same database
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=other), base_url="http://testserver") as c:
            assert (await c.get(f"{API}/push/key", headers=bob)).json() == {"public_key": key}
    finally:
        await other.state.services.db.dispose()
    async with app.state.services.db.read() as session:
        count = await session.scalar(select(func.count()).select_from(models.ServerSecret))
    assert count == 1


async def test_the_key_is_made_on_the_first_start(live: Live, db: Database) -> None:
    async with db.read() as session:  # the server has started (lifespan), nobody asked for the key yet
        names = set(await session.scalars(select(models.ServerSecret.name)))
    assert vapid.SECRET_NAME in names


async def test_push_routes_need_a_session(client: httpx2.AsyncClient) -> None:
    for method, path in (("GET", "/push/key"), ("GET", "/push/subscriptions"), ("POST", "/push/subscriptions")):
        response = await client.request(method, f"{API}{path}", json={})
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


async def test_subscribe_list_update_and_unsubscribe(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    db: Database = app.state.services.db
    bob = {**await as_user(client, app, cast.bob), "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}
    browser = BrowserKeys()
    made = await client.post(f"{API}/push/subscriptions", json=browser.subscription(ENDPOINT), headers=bob)
    assert made.status_code == 201, made.text
    device = made.json()
    assert device["endpoint"] == ENDPOINT and device["last_used_at"] is None
    assert device["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"

    renewed = BrowserKeys()  # the same browser, subscribing again with new keys: one row, updated
    again = await client.post(f"{API}/push/subscriptions", json=renewed.subscription(ENDPOINT), headers=bob)
    assert again.status_code == 200 and again.json()["id"] == device["id"]
    assert await stored(db) == [(cast.bob.id, ENDPOINT, renewed.p256dh, b64url(renewed.auth))]

    listed = await client.get(f"{API}/push/subscriptions", headers=bob)
    assert [d["endpoint"] for d in listed.json()] == [ENDPOINT]
    carol = await as_user(client, app, cast.carol)
    assert (await client.get(f"{API}/push/subscriptions", headers=carol)).json() == []

    # carol cannot remove bob's device, nor learn it exists: 404 as for any unknown endpoint
    refused = await client.request("DELETE", f"{API}/push/subscriptions", json={"endpoint": ENDPOINT}, headers=carol)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert len(await stored(db)) == 1

    gone = await client.request("DELETE", f"{API}/push/subscriptions", json={"endpoint": ENDPOINT}, headers=bob)
    assert gone.status_code == 204
    assert await stored(db) == []


async def test_a_browser_used_by_another_account_moves_to_it(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast
) -> None:
    bob, carol = await as_user(client, app, cast.bob), await as_user(client, app, cast.carol)
    browser = BrowserKeys()
    assert (await client.post(f"{API}/push/subscriptions", json=browser.subscription(ENDPOINT), headers=bob)).is_success
    # the same browser (it holds the subscription's keys) with carol signed in: the device is hers now
    moved = await client.post(f"{API}/push/subscriptions", json=browser.subscription(ENDPOINT), headers=carol)
    assert moved.status_code == 200
    assert await stored(app.state.services.db) == [(cast.carol.id, ENDPOINT, browser.p256dh, b64url(browser.auth))]
    assert (await client.get(f"{API}/push/subscriptions", headers=bob)).json() == []


@pytest.mark.parametrize("change", ["p256dh", "auth", "both"])
async def test_another_account_cannot_take_an_endpoint_without_its_keys(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, change: str
) -> None:
    """Knowing bob's endpoint (it is no secret: it shows in URLs, logs, the push service) is not
    enough to move his pushes to another account, nor to change the keys they are encrypted with."""
    db: Database = app.state.services.db
    bob, carol = await as_user(client, app, cast.bob), await as_user(client, app, cast.carol)
    browser, other = BrowserKeys(), BrowserKeys()
    made = await client.post(f"{API}/push/subscriptions", json=browser.subscription(ENDPOINT), headers=bob)
    assert made.status_code == 201
    before = await stored(db)
    body = browser.subscription(ENDPOINT)
    if change in ("p256dh", "both"):
        body["keys"]["p256dh"] = other.p256dh
    if change in ("auth", "both"):
        body["keys"]["auth"] = b64url(other.auth)
    taken = await client.post(f"{API}/push/subscriptions", json=body, headers=carol)
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["code"] == "push_endpoint_taken"
    assert await stored(db) == before == [(cast.bob.id, ENDPOINT, browser.p256dh, b64url(browser.auth))]
    assert (await client.get(f"{API}/push/subscriptions", headers=carol)).json() == []
    assert [d["id"] for d in (await client.get(f"{API}/push/subscriptions", headers=bob)).json()] == [made.json()["id"]]


async def test_the_keys_match_whatever_their_padding(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    """The browser's keys are compared as bytes: the same keys written with "=" padding still move it."""
    bob, carol = await as_user(client, app, cast.bob), await as_user(client, app, cast.carol)
    browser = BrowserKeys()
    assert (await client.post(f"{API}/push/subscriptions", json=browser.subscription(ENDPOINT), headers=bob)).is_success
    padded = browser.subscription(ENDPOINT)
    padded["keys"] = {"p256dh": padded["keys"]["p256dh"] + "=", "auth": padded["keys"]["auth"] + "=="}
    moved = await client.post(f"{API}/push/subscriptions", json=padded, headers=carol)
    assert moved.status_code == 200, moved.text
    assert [row[0] for row in await stored(app.state.services.db)] == [cast.carol.id]


async def test_an_account_has_a_bounded_number_of_devices(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast
) -> None:
    bob = await as_user(client, app, cast.bob)
    browser = BrowserKeys()
    for n in range(subscriptions.MAX_PER_USER):
        made = await client.post(f"{API}/push/subscriptions", json=browser.subscription(f"{ENDPOINT}{n}"), headers=bob)
        assert made.status_code == 201
    extra = await client.post(f"{API}/push/subscriptions", json=browser.subscription(f"{ENDPOINT}x"), headers=bob)
    assert extra.status_code == 409 and extra.json()["error"]["code"] == "push_subscription_limit"
    again = await client.post(f"{API}/push/subscriptions", json=browser.subscription(f"{ENDPOINT}0"), headers=bob)
    assert again.status_code == 200  # renewing a device it has is always fine
    assert len(await stored(app.state.services.db)) == subscriptions.MAX_PER_USER


def _with(**changes: Any) -> dict[str, Any]:
    body = BrowserKeys().subscription(ENDPOINT)
    for key, value in changes.items():
        if key.startswith("keys_"):
            body["keys"][key.removeprefix("keys_")] = value
        else:
            body[key] = value
    return body


def _not_on_curve() -> str:
    raw = base64.urlsafe_b64decode(BrowserKeys().p256dh + "=")
    return b64url(raw[:-1] + bytes([raw[-1] ^ 1]))  # y changed by one bit: no longer on the curve


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("not an object", [ENDPOINT], 422, "invalid_body"),
    ("no endpoint", {"keys": {"p256dh": "x", "auth": "y"}}, 422, "missing_field"),
    ("no keys", {"endpoint": ENDPOINT}, 422, "missing_field"),
    ("keys not an object", _with(keys="p256dh"), 422, "wrong_type"),
    ("endpoint a number", _with(endpoint=42), 422, "wrong_type"),
    ("empty endpoint", _with(endpoint=""), 422, "empty"),
    ("endpoint too long", _with(endpoint="https://8.8.8.8/" + "a" * 1000), 422, "too_long"),
    ("endpoint not a URL", _with(endpoint="push me"), 422, "bad_url"),
    ("endpoint with a bad port", _with(endpoint="https://8.8.8.8:99999/x"), 422, "bad_url"),
    ("NUL in the endpoint", _with(endpoint="https://8.8.8.8/\x00"), 422, "bad_format"),
    ("unknown field", _with(extra=1), 422, "unknown_field"),
    ("unknown key", _with(keys_extra="x"), 422, "unknown_field"),
    ("expirationTime text", _with(expirationTime="soon"), 422, "wrong_type"),
    ("p256dh missing", {"endpoint": ENDPOINT, "keys": {"auth": b64url(b"a" * 16)}}, 422, "missing_field"),
    ("p256dh not base64url", _with(keys_p256dh="BP+/" * 20), 422, "bad_format"),
    ("p256dh too long", _with(keys_p256dh="B" * 101), 422, "too_long"),
    ("p256dh too short", _with(keys_p256dh=b64url(b"\x04" + b"a" * 31)), 422, "bad_push_key"),
    ("p256dh not on the curve", _with(keys_p256dh=_not_on_curve()), 422, "bad_push_key"),
    ("p256dh compressed", _with(keys_p256dh=b64url(b"\x02" + b"a" * 64)), 422, "bad_push_key"),
    ("auth 15 bytes", _with(keys_auth=b64url(b"a" * 15)), 422, "bad_push_key"),
    ("auth 17 bytes", _with(keys_auth=b64url(b"a" * 17)), 422, "bad_push_key"),
    ("auth not base64url", _with(keys_auth="!!!!!!!!!!!!!!!!!!!!!!"), 422, "bad_format"),
    ("auth a number", _with(keys_auth=16), 422, "wrong_type"),
    ("auth with a lone surrogate", _with(keys_auth="\ud800"), 422, "bad_format"),
]


@pytest.mark.parametrize(("body", "status", "code"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES])
async def test_a_bad_subscription_is_refused_and_nothing_is_stored(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, body: Any, status: int, code: str
) -> None:
    bob = await as_user(client, app, cast.bob)
    raw = json.dumps(body)  # ASCII, with escapes: a lone surrogate gets through as JSON allows
    response = await client.post(
        f"{API}/push/subscriptions", content=raw, headers={**bob, "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert await stored(app.state.services.db) == []


async def test_malformed_json_is_refused(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    bob = await as_user(client, app, cast.bob)
    response = await client.post(
        f"{API}/push/subscriptions", content=b'{"endpoint": ', headers={**bob, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"
    assert await stored(app.state.services.db) == []


SSRF = [
    "http://8.8.8.8/push",  # not https
    "ftp://8.8.8.8/push",
    "https://127.0.0.1/push",
    "https://127.8.9.10:8443/push",
    "https://10.0.0.1/push",
    "https://172.16.5.4/push",
    "https://192.168.1.1/push",
    "https://169.254.169.254/latest/meta-data",  # the cloud metadata service
    "https://0.0.0.0/push",
    "https://100.64.0.1/push",  # carrier-grade NAT
    "https://224.0.0.1/push",  # multicast
    "https://240.0.0.1/push",  # reserved
    "https://[::1]/push",
    "https://[::]/push",
    "https://[fe80::1]/push",
    "https://[fc00::1]/push",
    "https://[::ffff:127.0.0.1]/push",  # IPv4 loopback, written as IPv6
    "https://[::ffff:10.0.0.1]/push",
    "https://[2002:7f00:1::1]/push",  # 6to4 of 127.0.0.1: a relay would deliver it to loopback
    "https://[2002:a00:1::1]/push",  # 6to4 of 10.0.0.1
    "https://[2002:a9fe:a9fe::1]/push",  # 6to4 of 169.254.169.254, the cloud metadata service
    "https://[2001:0:7f00:1::1]/push",  # Teredo with server 127.0.0.1
    "https://[2001:0:808:808:0:f5ff:f5ff:fffe]/push",  # Teredo, server 8.8.8.8, client 10.0.0.1
    "https://localhost/push",  # a name that resolves to loopback
    "https://localhost.:443/push",
    "https://user:secret@8.8.8.8/push",  # credentials in the URL
    "https://no-such-host.invalid/push",  # resolves to nothing
]


@pytest.mark.parametrize("endpoint", SSRF)
async def test_endpoints_that_are_not_https_on_a_public_address_are_refused(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast, endpoint: str
) -> None:
    bob = await as_user(client, app, cast.bob)
    response = await client.post(f"{API}/push/subscriptions", json=_with(endpoint=endpoint), headers=bob)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "push_endpoint_not_allowed"
    assert await stored(app.state.services.db) == []


def test_public_addresses() -> None:
    assert is_public("8.8.8.8") and is_public("2606:4700:4700::1111")
    assert not any(is_public(a) for a in ("127.0.0.1", "10.1.2.3", "::1", "fe80::1%eth0", "::ffff:192.168.0.1", "x"))


SIXTOFOUR = [("2002:808:808::1", "8.8.8.8", True)] + [
    (f"2002:{int(ip.packed[:2].hex(), 16):x}:{int(ip.packed[2:].hex(), 16):x}::1", str(ip), False)
    for ip in map(
        ipaddress.IPv4Address,
        ("127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.5"),  # noqa: S104
    )
]


@pytest.mark.parametrize(("address", "embedded", "public"), SIXTOFOUR, ids=[a[1] for a in SIXTOFOUR])
def test_a_6to4_address_is_judged_by_the_ipv4_address_it_carries(address: str, embedded: str, public: bool) -> None:
    assert str(ipaddress.IPv6Address(address).sixtofour) == embedded  # the address is what the case says
    assert is_public(address) is public


def _teredo(server: str, client: str) -> str:
    """A Teredo address (RFC 4380): 2001:0, the server's IPv4, flags, then port and client obfuscated."""
    obfuscated = bytes(b ^ 0xFF for b in ipaddress.IPv4Address(client).packed)
    raw = bytes.fromhex("20010000") + ipaddress.IPv4Address(server).packed + b"\x00\x00" + b"\xf5\xff" + obfuscated
    return str(ipaddress.IPv6Address(raw))


@pytest.mark.parametrize(
    ("server", "client"),
    [("127.0.0.1", "8.8.8.8"), ("8.8.8.8", "127.0.0.1"), ("8.8.8.8", "10.0.0.1"), ("8.8.8.8", "169.254.169.254")],
)
def test_a_teredo_address_carrying_a_private_ipv4_is_refused(server: str, client: str) -> None:
    """Python's table of special addresses counts all of 2001::/23 as not global today, so these are
    refused on that ground too; judging the embedded addresses keeps them refused if it changes."""
    address = _teredo(server, client)
    teredo = ipaddress.IPv6Address(address).teredo
    assert teredo is not None and tuple(map(str, teredo)) == (server, client)
    assert not is_public(address)


@pytest.fixture
def insecure_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, push_allow_insecure_endpoints=True)


async def test_insecure_endpoints_are_for_tests_only(insecure_settings: Settings, cast: Cast) -> None:
    app = create_app(insecure_settings)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as c:
            bob = await as_user(c, app, cast.bob)
            made = await c.post(f"{API}/push/subscriptions", json=_with(endpoint="http://127.0.0.1:9/p"), headers=bob)
            assert made.status_code == 201
            still = await c.post(f"{API}/push/subscriptions", json=_with(endpoint="ftp://127.0.0.1/p"), headers=bob)
            assert still.json()["error"]["code"] == "push_endpoint_not_allowed"
    finally:
        await app.state.services.db.dispose()

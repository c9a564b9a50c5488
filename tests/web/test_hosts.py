"""Host and first-run safety (DNS rebinding): ``chat.web.hosts`` and the setup token over HTTP.

Requests for a host name this server does not answer to are refused, reads included, over ASGI and
over a real server (websocket handshake too); a server that others can reach creates its first
account only with the setup token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx2
import pytest
from starlette.applications import Starlette

from chat.app import create_app
from chat.config import Settings
from chat.web.hosts import AllowedHosts, required_setup_token
from chat.web.security import SECURITY_HEADERS
from tests.accounts.helpers import counts
from tests.conftest import Live
from tests.factories import Cast

API = "/api/v1"
WAIT_S = 10.0  # upper bound for something that must happen; never a timing assertion
EVIL = "rebound.attacker.example"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8000", True),
        ("127.8.9.10", True),
        ("localhost:8000", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("[::1]:8000", True),
        ("192.0.2.10:8000", True),  # an address literal: typed by the user, never a rebound name
        ("[2001:db8::1]", True),
        ("chat.example.com", True),  # public_origin's host
        ("chat.example.com:443", True),
        ("team.example.org", True),  # allowed_hosts
        ("example.net", True),  # ".example.net" covers the name ...
        ("eu.example.net", True),  # ... and every name under it
        ("attacker.example", False),
        ("chat.example.com.attacker.example", False),
        ("evil-example.net", False),
        ("localhost.attacker.example", False),
        ("testserver", False),
        ("", False),
        ("[not an address", False),
        ("attacker.example@127.0.0.1", False),
        ("127.0.0.1/x", False),
    ],
)
def test_allowed_hosts(host: str, allowed: bool) -> None:
    settings = Settings(public_origin="https://chat.example.com", allowed_hosts=("Team.Example.org", ".example.net"))
    assert AllowedHosts(settings).allows(host) is allowed


async def test_another_host_is_refused_and_changes_nothing(app: Starlette) -> None:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=f"http://{EVIL}:8000") as evil:
        before = await counts(app.state.services.db)
        for method, path, body in (("GET", "/", None), ("GET", f"{API}/openapi.json", None)):
            response = await evil.request(method, path, json=body)
            assert response.status_code == 400 and response.json()["error"]["code"] == "host_not_allowed"
        origin = {"Origin": f"http://{EVIL}:8000"}  # a rebinding page's requests are "same-origin"
        register = await evil.post(
            f"{API}/users", json={"username": "mallory", "password": "a-long-password"}, headers=origin
        )
        assert register.status_code == 400 and register.json()["error"]["code"] == "host_not_allowed"
        assert await counts(app.state.services.db) == before


async def test_a_real_server_refuses_another_host_for_http_and_websockets(live: Live, cast: Cast) -> None:
    async with httpx2.AsyncClient(base_url=live.base_url) as client:
        page = await client.get("/login", headers={"Host": EVIL})
    assert page.status_code == 400 and page.json()["error"]["code"] == "host_not_allowed"
    for name, value in SECURITY_HEADERS:
        assert page.headers.get(name) == value
    token = await live.token(cast.bob)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(
        (
            f"GET /api/v1/ws HTTP/1.1\r\nHost: {EVIL}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{EVIL}\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    assert head.startswith(b"HTTP/1.1 400 ")
    length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split()[1])
    body = await asyncio.wait_for(reader.readexactly(length), WAIT_S)
    assert json.loads(body)["error"]["code"] == "host_not_allowed"
    writer.close()


# --- first run on a server others can reach ------------------------------------------------------


@pytest.fixture
async def exposed(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    """An app whose server listens on 0.0.0.0 (not actually listening: ASGI) with the token s3cret,
    registration open (so that a second registration shows what the token no longer does)."""
    app = create_app(settings.replace(host="0.0.0.0", registration_mode="open"), setup_token="s3cret")  # noqa: S104
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client
    await app.state.services.db.dispose()


async def test_the_first_account_of_an_exposed_server_needs_the_setup_token(exposed: httpx2.AsyncClient) -> None:
    account = {"username": "founder", "password": "a-long-password"}
    without = await exposed.post(f"{API}/users", json=account)
    assert without.status_code == 403 and without.json()["error"]["code"] == "setup_token_required"
    wrong = await exposed.post(f"{API}/users", json={**account, "setup_token": "guess"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "invalid_setup_token"
    page = await exposed.get("/setup?token=s3cret")
    assert page.status_code == 200 and 'name="setup_token" value="s3cret"' in page.text
    made = await exposed.post(f"{API}/users", json={**account, "setup_token": "s3cret"})
    assert made.status_code == 201 and made.json()["role"] == "admin"
    again = await exposed.post(
        f"{API}/users", json={"username": "mallory", "password": "a-long-password", "setup_token": "s3cret"}
    )
    assert again.status_code == 201 and again.json()["role"] == "member"  # the token was good once
    assert (await exposed.get("/setup")).status_code == 303


async def test_on_loopback_the_first_visitor_sets_up(client: httpx2.AsyncClient) -> None:
    page = await client.get("/setup")
    assert page.status_code == 200 and "setup_token" not in page.text
    made = await client.post(f"{API}/users", json={"username": "founder", "password": "a-long-password"})
    assert made.status_code == 201 and made.json()["role"] == "admin"


def test_which_servers_need_a_setup_token() -> None:
    assert required_setup_token(Settings(), "t") is None  # 127.0.0.1
    assert required_setup_token(Settings(host="::1"), "t") is None
    assert required_setup_token(Settings(host="localhost", public_origin="http://localhost:8000"), "t") is None
    assert required_setup_token(Settings(host="0.0.0.0"), "") == ""  # noqa: S104 - none made: only create-admin
    assert required_setup_token(Settings(host="0.0.0.0"), "t") == "t"  # noqa: S104
    # behind a proxy on loopback, a public origin means others reach it
    assert required_setup_token(Settings(public_origin="https://chat.example.com"), "") == ""
    # create_app asks once: what the app's pages and registration read
    assert create_app(Settings(host="0.0.0.0"), setup_token="t").state.services.setup_token == "t"  # noqa: S104
    assert create_app(Settings(), setup_token="t").state.services.setup_token is None

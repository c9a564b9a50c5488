"""Lock-out is not a weapon: wrong passwords from one address do not lock the owner out from another.

Over the REST login (``POST /api/v1/session``) with clients at different addresses; the policy is in
``chat.accounts.ratelimit`` and docs/operations.md ("Failed logins").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2
import pytest
from starlette.applications import Starlette

from chat.config import Settings
from tests.factories import Cast, password_of

API = "/api/v1"
Client = Callable[[str], httpx2.AsyncClient]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(login_limit_per_account=3, login_limit_per_account_global=6)


@pytest.fixture
async def at(app: Starlette) -> AsyncIterator[Client]:
    """``at(address)``: a client whose requests come from ``address``."""
    opened: list[httpx2.AsyncClient] = []

    def make(address: str) -> httpx2.AsyncClient:
        transport = httpx2.ASGITransport(app=app, client=(address, 40000))
        opened.append(httpx2.AsyncClient(transport=transport, base_url="http://testserver"))
        return opened[-1]

    yield make
    for client in opened:
        await client.aclose()


async def login(client: httpx2.AsyncClient, username: str, password: str) -> httpx2.Response:
    return await client.post(f"{API}/session", json={"username": username, "password": password})


async def test_an_attacker_address_is_limited_and_the_owner_logs_in_elsewhere(at: Client, cast: Cast) -> None:
    attacker, owner = at("203.0.113.9"), at("198.51.100.7")
    for _ in range(3):
        assert (await login(attacker, "bob", "wrong-guess")).status_code == 401
    refused = await login(attacker, "bob", password_of("bob"))  # even the right password, from there
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_logins"
    assert int(refused.headers["Retry-After"]) > 0
    assert (await login(owner, "bob", password_of("bob"))).status_code == 200


async def test_the_global_back_off_stops_a_distributed_guesser_but_not_the_owner(at: Client, cast: Cast) -> None:
    owner = at("198.51.100.7")
    assert (await login(owner, "bob", password_of("bob"))).status_code == 200  # bob's usual address
    for i in range(3):  # three addresses, two guesses each: none reaches its own limit of 3
        guesser = at(f"203.0.113.{i}")
        for _ in range(2):
            assert (await login(guesser, "bob", "wrong-guess")).status_code == 401
    newcomer = await login(at("203.0.113.50"), "bob", password_of("bob"))
    assert newcomer.status_code == 429 and newcomer.json()["error"]["code"] == "too_many_logins"
    assert (await login(owner, "bob", password_of("bob"))).status_code == 200
    assert (await login(at("203.0.113.50"), "carol", password_of("carol"))).status_code == 200

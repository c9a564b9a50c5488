"""A page on one of two server processes lives through a Redis outage: nothing lost, nothing doubled.

Two ``chat serve`` processes share a PostgreSQL database (a private cluster) and a private Redis;
Bob's page is on process B. While Redis is down, messages are posted on A and on B in turn, so
their event ids interleave: B's reach the page live, A's cannot. The page's stored cursor must
stay below A's first missed event (the event frames carry ``cursor``), or its resume after the
4009 would skip A's messages. When Redis is back the page resumes, and every message shows once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs, new_context
from tests.e2e.helpers import create_channel, expect_once, me, open_conversation
from tests.e2e.server import Server, password_of
from tests.integration.services import (
    PostgresCluster,
    RedisServer,
    fault_test_skip_reason,
    running_redis,
)

SKIP = fault_test_skip_reason(postgres=True, redis=True)
pytestmark = [pytest.mark.browser, NEEDS_BROWSER, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

CURSOR = "() => Number(window.sessionStorage.getItem('salon.last_event_id'))"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def servers(tmp_path: Path, redis: RedisServer) -> Iterator[tuple[Server, Server]]:
    cluster = PostgresCluster()
    started: list[Server] = []
    try:
        cluster.init()
        cluster.start()
        env = {"CHAT_DATABASE_URL": cluster.create_database("salon"), "CHAT_BROKER_URL": redis.url}
        for name in ("a", "b"):  # A first: it migrates the shared database
            srv = Server(tmp_path / name, env)
            srv.start()
            started.append(srv)
        yield started[0], started[1]
    finally:
        for srv in started:
            srv.stop()
        cluster.destroy()


@pytest.fixture
def server(servers: tuple[Server, Server]) -> Server:
    """The process the pages of ``open_as`` are on: B."""
    return servers[1]


def broker_is(srv: Server, state: str) -> None:
    deadline = time.monotonic() + 60
    while srv.api("GET", "/health")["broker"] != state:
        assert time.monotonic() < deadline, f"/health never said broker: {state}"
        time.sleep(0.1)


def logged_in(browser: Browser, srv: Server, contexts: list[BrowserContext], username: str) -> BrowserContext:
    ctx = new_context(browser, srv, contexts)
    response = ctx.request.post("/api/v1/session", data={"username": username, "password": password_of(username)})
    assert response.ok, response.text()
    return ctx


def post_on(ctx: BrowserContext, channel: int, body: str) -> dict[str, Any]:
    response = ctx.request.post(
        f"/api/v1/conversations/{channel}/messages", data={"topic": "incident", "body": body, "nonce": body}
    )
    assert response.status == 201, response.text()
    message: dict[str, Any] = response.json()
    return message


def test_a_page_misses_nothing_and_doubles_nothing_across_a_redis_outage(
    open_as: OpenAs,
    servers: tuple[Server, Server],
    redis: RedisServer,
    browser: Browser,
    contexts: list[BrowserContext],
) -> None:
    a, b = servers
    alice = open_as("alice")
    bob: Page = open_as("bob")
    channel = create_channel(alice, "ops")
    joined = bob.context.request.post(f"/api/v1/conversations/{channel}/members", data={"user_id": me(bob)["id"]})
    assert joined.ok, joined.text()
    open_conversation(bob, "ops")
    on = {"A": logged_in(browser, a, contexts, "alice"), "B": alice.context}
    for process in ("A", "B"):
        post_on(on[process], channel, f"before-{process}")
        expect_once(bob, f"before-{process}")

    redis.stop()
    for srv in (a, b):
        broker_is(srv, "unavailable")
    during = {
        f"during-{n}-{process}": post_on(on[process], channel, f"during-{n}-{process}")
        for n in range(3)
        for process in "AB"
    }
    for body in during:
        if body.endswith("B"):
            expect_once(bob, body)  # same-process delivery goes on
    missed = min(m["event_id"] for body, m in during.items() if body.endswith("A"))
    assert bob.evaluate(CURSOR) < missed, "the page's cursor passed events it never received"

    redis.start()
    for srv in (a, b):
        broker_is(srv, "ok")
    newest = max(m["event_id"] for m in during.values())
    bob.wait_for_function(f"() => ({CURSOR})() >= {newest}", timeout=60_000)  # resumed after the 4009
    expect(bob.locator("#conn-status")).to_have_attribute("data-state", "online")
    post_on(on["A"], channel, "after-A")
    for body in ["before-A", "before-B", *during, "after-A"]:
        expect_once(bob, body)
    assert not bob.errors  # type: ignore[attr-defined]

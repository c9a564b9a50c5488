"""Redis stopped under two server processes: delivery degrades, nothing is lost or doubled.

Two real servers share one PostgreSQL database (a private cluster) and a private Redis.
On each process there is a poster and a follower; the followers are ``chat.bot`` clients
(the Python client of docs/protocol.md). While Redis is down, ``/health`` says
``degraded`` on both, posts on both processes are acked, alternately, so their ids
interleave, and each follower receives its own process's posts live (same-process
delivery) but not the other process's. That is where a client could lose events: a
follower that kept the id of a local event as its cursor would resume past the other
process's lower ids. The servers' event frames hold the cursor at the last event they
delivered before the outage, so when Redis comes back and each hub closes its sockets
with 4009, each follower resumes from there: it catches up with the other process's
posts and skips the ones it has. Every acked message reaches each follower exactly once
and is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chat.bot import Bot, MemoryCursorStore
from tests.integration.clients import health, make_team, stored_message_ids
from tests.integration.server import LOAD_TEST_ENV, ServerProcess
from tests.integration.services import (
    PostgresCluster,
    RedisServer,
    fault_test_skip_reason,
    running_cluster,
    running_redis,
)

SKIP = fault_test_skip_reason(postgres=True, redis=True)
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster() as pg:
        yield pg


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as server:
        yield server


class Follower:
    """A ``chat.bot`` client that records the messages its application receives, in order."""

    def __init__(self, srv: ServerProcess, token: str) -> None:
        self.bot = Bot(srv.base_url, token, cursor_store=MemoryCursorStore(), backoff_max_s=2.0)
        self.messages: list[int] = []  # message ids of message.posted events, as handed to the application

    async def run(self) -> None:
        async for event in self.bot.events():
            if event["kind"] == "message.posted":
                self.messages.append(int(event["data"]["message"]["id"]))

    async def wait_for(self, message_ids: set[int]) -> None:
        while not message_ids <= set(self.messages):  # noqa: ASYNC110 - polling what run() collects
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def following(followers: list[Follower]) -> AsyncIterator[None]:
    for f in followers:
        await f.bot.start()
    tasks = [asyncio.create_task(f.run()) for f in followers]
    try:
        yield
    finally:
        for f in followers:
            await f.bot.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)


async def health_is(srv: ServerProcess, expected: dict[str, str]) -> None:
    """Poll ``/health`` until it answers ``expected`` (the broker notices an outage on its own)."""
    while True:
        r = await asyncio.to_thread(health, srv)
        if r.status_code == 200 and r.json() == expected:
            return
        await asyncio.sleep(0.1)


async def post(posters: list[Bot], conversation: int, rounds: int, label: str) -> list[dict[str, int]]:
    """``rounds`` posts on each poster in turn, each acked before the next: ids interleave."""
    acked = []
    for n in range(rounds):
        for i, poster in enumerate(posters):
            message = await asyncio.wait_for(poster.post(conversation, f"{label} {n} on {i}", topic="faults"), 60)
            acked.append({"message": int(message["id"]), "event": int(message["event_id"]), "process": i})
    return acked


def ids(acked: list[dict[str, int]], process: int | None = None) -> set[int]:
    return {a["message"] for a in acked if process is None or a["process"] == process}


async def test_redis_down_degrades_delivery_and_loses_nothing(
    tmp_path: Path, cluster: PostgresCluster, redis: RedisServer
) -> None:
    env = {**LOAD_TEST_ENV, "CHAT_DATABASE_URL": cluster.create_database("salon"), "CHAT_BROKER_URL": redis.url}
    a, b = ServerProcess(tmp_path / "a", env=env), ServerProcess(tmp_path / "b", env=env)
    a.start()  # migrates the shared database first
    b.start()
    ok = {"status": "ok", "database": "ok", "broker": "ok"}
    degraded = {"status": "degraded", "database": "ok", "broker": "unavailable"}
    try:
        tokens, conversation = make_team(a, ["admin", "sa", "sb", "ra", "rb"])
        admin, sender_a, sender_b, reader_a, reader_b = tokens
        on_a, on_b = Follower(a, reader_a), Follower(b, reader_b)
        posters = [Bot(a.base_url, sender_a), Bot(b.base_url, sender_b)]
        async with following([on_a, on_b]):
            for poster in posters:
                await poster.start()
            before = await post(posters, conversation, 3, "before")  # Redis up: both processes deliver live
            for f in (on_a, on_b):
                await asyncio.wait_for(f.wait_for(ids(before)), 60)
            for srv in (a, b):
                await asyncio.wait_for(health_is(srv, ok), 60)

            await asyncio.to_thread(redis.stop)
            for srv in (a, b):
                await asyncio.wait_for(health_is(srv, degraded), 60)
            during = await post(posters, conversation, 5, "during")  # acked without Redis, ids interleaved
            # same-process delivery goes on; the other process's posts cannot arrive (Redis is down)
            for process, f in enumerate((on_a, on_b)):
                await asyncio.wait_for(f.wait_for(ids(during, process)), 60)
                assert not ids(during, 1 - process) & set(f.messages), "delivered while Redis was down?"
                missed = min(d["event"] for d in during if d["process"] != process)
                assert f.bot.last_event_id is not None and f.bot.last_event_id < missed, (
                    "the cursor passed an event this client never received: it would resume past it"
                )
            assert redis.proc is None
            reconnects = [f.bot.reconnects for f in (on_a, on_b)]

            await asyncio.to_thread(redis.start)
            for srv in (a, b):
                await asyncio.wait_for(health_is(srv, ok), 60)
            for f in (on_a, on_b):  # caught up by resume after the 4009
                await asyncio.wait_for(f.wait_for(ids(during)), 60)
            # each was told to resume (4009) when its server's broker came back
            assert all(f.bot.reconnects > r for f, r in zip((on_a, on_b), reconnects, strict=True))
            after = await post(posters, conversation, 3, "after")

            acked = ids(before) | ids(during) | ids(after)
            assert len(acked) == len(before) + len(during) + len(after)
            for f in (on_a, on_b):
                await asyncio.wait_for(f.wait_for(acked), 60)
            for poster in posters:
                await poster.close()
        for f in (on_a, on_b):
            assert len(f.messages) == len(set(f.messages)), "a message was delivered twice"
            assert set(f.messages) == acked
        for srv in (a, b):
            stored = await asyncio.to_thread(stored_message_ids, srv, admin, conversation)
            assert sorted(stored) == sorted(acked), "every acked message stored exactly once"
    finally:
        a.stop()
        b.stop()

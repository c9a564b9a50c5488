"""Redis stopped under two server processes: delivery degrades, nothing is lost or doubled.

Two real servers share one PostgreSQL database (a private cluster) and a private Redis.
A sender and a follower are on process A, another follower on process B. While Redis is
down, ``/health`` says ``degraded`` on both, posts on A are still acked and reach A's
follower live (same-process delivery). When Redis comes back, each hub learns that it
missed messages and closes its sockets with 4009; B's follower resumes from its cursor and
catches up. Every acked message reaches each follower exactly once and is stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clients import Follower, Poster, health, make_team, stored_message_ids
from tests.integration.server import LOAD_TEST_ENV, ServerProcess
from tests.integration.services import PostgresCluster, RedisServer, fault_test_skip_reason

SKIP = fault_test_skip_reason(postgres=True, redis=True)
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

CLOSE_RESYNC = 4009


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    pg = PostgresCluster()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def health_is(srv: ServerProcess, expected: dict[str, str]) -> None:
    """Poll ``/health`` until it answers ``expected`` (the broker notices an outage on its own)."""
    while True:
        r = await asyncio.to_thread(health, srv)
        if r.status_code == 200 and r.json() == expected:
            return
        await asyncio.sleep(0.1)


async def post(poster: Poster, count: int) -> set[int]:
    before = set(poster.acked)
    while len(poster.acked) < len(before) + count:
        if (await poster.attempt())["type"] != "ack":
            await asyncio.sleep(0.2)
    return {mid for nonce, mid in poster.acked.items() if nonce not in before}


async def test_redis_down_degrades_delivery_and_loses_nothing(
    tmp_path: Path, cluster: PostgresCluster, redis: RedisServer
) -> None:
    env = {**LOAD_TEST_ENV, "CHAT_DATABASE_URL": cluster.create_database("salon"), "CHAT_BROKER_URL": redis.url}
    a, b = ServerProcess(tmp_path / "a", env=env), ServerProcess(tmp_path / "b", env=env)
    a.start()  # migrates the shared database first
    b.start()
    stop = asyncio.Event()
    ok = {"status": "ok", "database": "ok", "broker": "ok"}
    degraded = {"status": "degraded", "database": "ok", "broker": "unavailable"}
    try:
        (admin, sender, reader_a, reader_b), conversation = make_team(a, ["admin", "sender", "ra", "rb"])
        on_a, on_b = Follower(a, reader_a), Follower(b, reader_b)
        following = [asyncio.create_task(f.run(stop)) for f in (on_a, on_b)]
        for f in (on_a, on_b):
            await asyncio.wait_for(f.resumed.wait(), 60)
        poster = Poster(a, sender, conversation, "a")

        before = await post(poster, 5)  # Redis up: both processes deliver live
        for f in (on_a, on_b):
            await asyncio.wait_for(f.wait_for(before), 60)
        for srv in (a, b):
            await asyncio.wait_for(health_is(srv, ok), 60)

        await asyncio.to_thread(redis.stop)
        for srv in (a, b):
            await asyncio.wait_for(health_is(srv, degraded), 60)
        during = await post(poster, 10)  # acked without Redis
        await asyncio.wait_for(on_a.wait_for(during), 60)
        assert during <= on_a.live, "same-process delivery stopped without Redis (caught up only by resume)"
        assert redis.proc is None

        await asyncio.to_thread(redis.start)
        for srv in (a, b):
            await asyncio.wait_for(health_is(srv, ok), 60)
        await asyncio.wait_for(on_b.wait_for(during), 60)  # caught up by resume
        assert CLOSE_RESYNC in on_b.closes, on_b.closes  # told to resume, not left behind
        after = await post(poster, 5)

        acked = before | during | after
        assert acked == set(poster.acked.values())
        for f in (on_a, on_b):
            await asyncio.wait_for(f.wait_for(acked), 60)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*following), 60)
        await poster.close()
        for f in (on_a, on_b):
            assert len(f.messages) == len(set(f.messages)), "a message was delivered twice"
            assert set(f.messages) == acked
        for srv in (a, b):
            stored = await asyncio.to_thread(stored_message_ids, srv, admin, conversation)
            assert sorted(stored) == sorted(acked), "every acked message stored exactly once"
    finally:
        stop.set()
        a.stop()
        b.stop()

"""PostgreSQL restarted mid-load: the server reconnects on its own and no acked message is lost.

A private PostgreSQL cluster (never the shared one) backs a real server. Two senders post
as fast as they get acks, two followers read live. The cluster is restarted with
``pg_ctl restart -m fast`` and then ``-m immediate`` (a crash) in the middle of the load;
posts caught by the outage get ``database_unavailable`` (or lose their socket) and are
retried with the same nonce. Then the cluster is stopped outright: a post answers
``database_unavailable`` at once (an error frame, 503 with ``Retry-After`` over REST) rather
than hanging, and ``/health`` answers 503 ``down``; once it is started again, writing
resumes without restarting the server. Every acked message reaches every follower once
and is stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clients import Follower, Poster, health, make_team, stored_message_ids
from tests.integration.server import LOAD_TEST_ENV, ServerProcess
from tests.integration.services import PostgresCluster, fault_test_skip_reason, running_cluster

SKIP = fault_test_skip_reason(postgres=True)
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

BETWEEN_FAULTS = 30  # acked posts (both senders) before each restart, and after it before going on


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster() as pg:
        yield pg


async def acked_at_least(posters: list[Poster], count: int) -> None:
    while sum(len(p.acked) for p in posters) < count:  # noqa: ASYNC110 - polling counters
        await asyncio.sleep(0.05)


async def test_a_postgres_restart_mid_load_loses_no_acked_message(tmp_path: Path, cluster: PostgresCluster) -> None:
    url = cluster.create_database("salon")
    srv = ServerProcess(tmp_path / "data", env={**LOAD_TEST_ENV, "CHAT_DATABASE_URL": url})
    srv.start()
    stop_posting, stop_following = asyncio.Event(), asyncio.Event()
    try:
        (admin, s1, s2, r1, r2), conversation = make_team(srv, ["admin", "s1", "s2", "r1", "r2"])
        followers = [Follower(srv, r1), Follower(srv, r2)]
        following = [asyncio.create_task(f.run(stop_following)) for f in followers]
        posters = [Poster(srv, s1, conversation, "s1"), Poster(srv, s2, conversation, "s2")]
        posting = [asyncio.create_task(p.run(stop_posting)) for p in posters]

        for mode in ("fast", "immediate"):
            await asyncio.wait_for(acked_at_least(posters, sum(len(p.acked) for p in posters) + BETWEEN_FAULTS), 120)
            await asyncio.to_thread(cluster.restart, mode)  # posts are in flight
        await asyncio.wait_for(acked_at_least(posters, sum(len(p.acked) for p in posters) + BETWEEN_FAULTS), 120)
        stop_posting.set()
        await asyncio.wait_for(asyncio.gather(*posting), 120)
        for p in posters:
            await asyncio.wait_for(p.flush(), 120)

        # the database down for good: a clear, retryable refusal at once, never a hang
        await asyncio.to_thread(cluster.stop, "fast")
        reply = await asyncio.wait_for(posters[0].attempt(), 120)
        assert reply["type"] == "error" and reply["code"] == "database_unavailable", reply
        post = {"topic": "faults", "body": "over REST", "nonce": "rest-1"}
        r = await asyncio.to_thread(srv.api, "POST", f"/conversations/{conversation}/messages", s2, json=post)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "database_unavailable" and int(r.headers["Retry-After"]) > 0
        h = await asyncio.to_thread(health, srv)
        assert h.status_code == 503, h.text
        assert h.json()["status"] == "down" and h.json()["database"] == "unavailable"

        await asyncio.to_thread(cluster.start)
        await asyncio.wait_for(posters[0].flush(), 120)  # the refused post, same nonce
        r = await asyncio.to_thread(srv.api, "POST", f"/conversations/{conversation}/messages", s2, json=post)
        assert r.status_code == 201, r.text
        h = await asyncio.to_thread(health, srv)
        assert h.status_code == 200 and h.json() == {"status": "ok", "database": "ok", "broker": "ok"}

        acked = {mid for p in posters for mid in p.acked.values()} | {int(r.json()["id"])}
        for f in followers:
            await asyncio.wait_for(f.wait_for(acked), 120)
        stop_following.set()
        await asyncio.wait_for(asyncio.gather(*following), 120)
        for f in followers:
            assert len(f.messages) == len(set(f.messages)), "a message was delivered twice"
            assert set(f.messages) == acked
        stored = await asyncio.to_thread(stored_message_ids, srv, admin, conversation)
        assert sorted(stored) == sorted(acked), "every acked message stored exactly once"
    finally:
        stop_posting.set()
        stop_following.set()
        srv.stop()

"""Disk full on the SQLite volume: posts are refused with a retryable error, nothing is lost.

A real server runs with its data directory on a small tmpfs. A ballast file fills the
volume until writes fail; the posts after that are refused with ``storage_full`` (an error
frame, and 503 with ``Retry-After`` over REST) while reads and live delivery go on and
``/health`` says ``degraded``. Deleting the ballast brings writing back: the refused posts
are retried with their nonces and stored once. Then the server is restarted on the same
volume: ``chat audit verify`` passes and every acked message is in the history exactly once
(SQLite's WAL survived the ENOSPC uncorrupted).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clients import Follower, Poster, health, make_team, stored_message_ids
from tests.integration.server import LOAD_TEST_ENV, ServerProcess
from tests.integration.services import fault_test_skip_reason, fill, tmpfs

SKIP = fault_test_skip_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

MAX_POSTS_WHEN_FULL = 2000  # the WAL may still hold a few pages; a full volume refuses long before this


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "volume", "24m") as path:
        yield path


async def test_a_full_disk_refuses_posts_retryably_and_loses_nothing(tmp_path: Path, volume: Path) -> None:
    data_dir = volume / "data"
    srv = ServerProcess(data_dir, env=LOAD_TEST_ENV, log_path=tmp_path / "server.log")
    srv.start()  # `chat serve` migrates the new database on the volume
    stop = asyncio.Event()
    try:
        (admin, sender, reader), conversation = make_team(srv, ["admin", "sender", "reader"])
        follower = Follower(srv, reader)
        following = asyncio.create_task(follower.run(stop))
        poster = Poster(srv, sender, conversation, "p", body="x" * 2000)
        for _ in range(10):
            assert (await poster.attempt())["type"] == "ack"

        written = await asyncio.to_thread(fill, volume / "ballast")
        assert written > 0
        for _ in range(MAX_POSTS_WHEN_FULL):
            reply = await poster.attempt()
            if reply["type"] != "ack":
                break
        assert reply["type"] == "error" and reply["code"] == "storage_full", reply
        assert poster.pending is not None
        acked_while_full = dict(poster.acked)

        # REST answers 503 with Retry-After, and changes nothing
        post = {"topic": "faults", "body": "over REST", "nonce": "rest-1"}
        r = await asyncio.to_thread(srv.api, "POST", f"/conversations/{conversation}/messages", sender, json=post)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "storage_full"
        assert int(r.headers["Retry-After"]) > 0

        h = await asyncio.to_thread(health, srv)
        assert h.status_code == 200 and h.json() == {"status": "degraded", "database": "storage_full", "broker": "ok"}

        # reads go on: the history and live delivery have every acked message
        stored = await asyncio.to_thread(stored_message_ids, srv, admin, conversation)
        assert set(acked_while_full.values()) <= set(stored)
        await asyncio.wait_for(follower.wait_for(set(acked_while_full.values())), 60)

        # space comes back: the refused post (same nonce) and new ones are stored
        (volume / "ballast").unlink()
        await poster.flush()
        for _ in range(5):
            assert (await poster.attempt())["type"] == "ack"
        r = await asyncio.to_thread(srv.api, "POST", f"/conversations/{conversation}/messages", sender, json=post)
        assert r.status_code == 201, r.text
        rest_id = int(r.json()["id"])
        r = await asyncio.to_thread(srv.api, "POST", f"/conversations/{conversation}/messages", sender, json=post)
        assert r.status_code == 200 and int(r.json()["id"]) == rest_id  # a retry stores nothing

        h = await asyncio.to_thread(health, srv)
        assert h.json() == {"status": "ok", "database": "ok", "broker": "ok"}

        acked = set(poster.acked.values()) | {rest_id}
        await asyncio.wait_for(follower.wait_for(acked), 60)
        stop.set()
        await asyncio.wait_for(following, 60)
        assert len(follower.messages) == len(set(follower.messages)), "a message was delivered twice"
        assert set(follower.messages) == acked
    finally:
        stop.set()
        srv.stop()

    # the database survived the ENOSPC: it restarts, its hash chains verify, nothing acked is missing
    srv.start()
    try:
        stored = await asyncio.to_thread(stored_message_ids, srv, admin, conversation)
        assert sorted(stored) == sorted(acked), "every acked message stored exactly once"
    finally:
        srv.stop()
    verify = await asyncio.to_thread(audit_verify, data_dir, srv.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def audit_verify(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "chat.cli", "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

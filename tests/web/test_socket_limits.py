"""Over a real server: liveness without client frames, cursors from the future, throttled
typing and coalesced presence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from chat.config import Settings
from chat.realtime import ephemeral
from tests.channels.messaging_support import channel, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.socket_support import Barrier, Connector, Frame, connector

HEARTBEAT_S = 1


@pytest.fixture
def intervals() -> dict[str, float]:
    """``chat.realtime.ephemeral`` constants to override for a test (before the app exists)."""
    return {}


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, intervals: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for name, value in intervals.items():
        monkeypatch.setattr(ephemeral, name, value)
    return Settings(database_url=database_url, data_dir=tmp_path, heartbeat_s=HEARTBEAT_S)


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


def posted(frames: list[Frame]) -> list[str]:
    return [
        f["event"]["data"]["body"] for f in frames if f["type"] == "event" and f["event"]["kind"] == "message.posted"
    ]


# --- liveness ---------------------------------------------------------------------------------------


async def test_a_client_that_only_reads_stays_connected_and_receives_events(
    live: Live, db: Any, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    # no ping frames and no client-side websocket pings: the client never sends anything itself
    reader = await connect(cast.bob, ping_interval=None)
    await asyncio.sleep(2.5 * HEARTBEAT_S)  # past the two heartbeats that used to close it
    await post(db, cast.alice, general, body="still there?")
    frame = await reader.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "message.posted")
    assert frame["event"]["data"]["body"] == "still there?"
    assert reader.close_code is None and not reader.closed.is_set()


# --- cursors ----------------------------------------------------------------------------------------


async def test_a_cursor_beyond_the_newest_event_is_clamped_over_rest(live: Live, db: Any, cast: Cast) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    headers = {"Authorization": f"Bearer {await live.token(cast.bob)}"}
    async with httpx2.AsyncClient(base_url=live.base_url, headers=headers) as http:
        newest = (await http.get("/api/v1/events", params={"after": 0, "limit": 1000})).json()["last_event_id"]
        page = (await http.get("/api/v1/events", params={"after": newest + 1000})).json()
        assert page == {"events": [], "last_event_id": newest, "has_more": False}  # not newest + 1000
        await post(db, cast.alice, general, body="after the clamp")
        page = (await http.get("/api/v1/events", params={"after": page["last_event_id"]})).json()
        assert [e["data"]["body"] for e in page["events"] if e["kind"] == "message.posted"] == ["after the clamp"]


async def test_a_resume_beyond_the_newest_event_is_clamped(live: Live, db: Any, cast: Cast, connect: Connector) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    bob = await connect(cast.bob)
    newest = bob.hello["last_event_id"]
    resumed = await bob.request("resume", after=newest + 1000)
    assert resumed["type"] == "resumed" and resumed["last_event_id"] == newest
    await post(db, cast.alice, general, body="live")
    await bob.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "message.posted")
    again = await bob.request("resume", after=resumed["last_event_id"])
    assert posted(bob.log) == ["live", "live"]  # live, then replayed from the clamped cursor
    assert again["last_event_id"] > newest


# --- typing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("intervals", [{"TYPING_INTERVAL_S": 3600.0}], ids=["typing every hour"])
async def test_typing_goes_out_once_per_interval_per_conversation_and_topic(
    live: Live, db: Any, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    bob, carol = await connect(cast.bob), await connect(cast.carol)
    barrier = Barrier(db, general, cast.alice)
    replies: list[Frame] = []

    async def typing_storm() -> None:
        for topic in ("Q3", "Q3", "Q3", "Q4", "Q3", "Q4"):
            replies.append(await bob.request("typing", conversation=general, topic=topic))

    got = await barrier.observe_frames([carol], typing_storm)
    typed = [(f["topic"], f["user"]) for f in got["carol"] if f["type"] == "typing"]
    assert typed == [("Q3", cast.bob.id), ("Q4", cast.bob.id)]  # the excess is dropped, not fanned out
    assert [r["type"] for r in replies] == ["ack"] * 6  # and still acked: the client has nothing to retry
    # another connection of the same user has an interval of its own
    other = await connect(cast.bob, name="bob's other tab")
    got = await barrier.observe_frames([carol], lambda: other.request("typing", conversation=general, topic="Q3"))
    assert [f["topic"] for f in got["carol"] if f["type"] == "typing"] == ["Q3"]


# --- presence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("intervals", [{"PRESENCE_INTERVAL_S": 3600.0}], ids=["presence every hour"])
async def test_a_user_flapping_online_and_offline_is_not_a_storm(
    live: Live, db: Any, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    carol = await connect(cast.carol)
    barrier = Barrier(db, general, cast.alice)

    async def flap() -> None:
        for _ in range(5):
            bob = await connect(cast.bob)
            await bob.close()

    got = await barrier.observe_frames([carol], flap)
    # carol's own change was flushed at once; bob's ten changes wait for the end of the interval
    assert [f for f in got["carol"] if f["type"] == "presence"] == []

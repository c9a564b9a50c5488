"""The websocket under real conditions: a client that stops reading, retried posts, connection
limits, typing and presence, a long resume."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat.config import Settings
from chat.domain.actors import Actor
from chat.realtime.hub import Hub
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.socket_support import WAIT_S, Barrier, Connector, Frame, Peer, connector, next_id


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, overrides: dict[str, Any]) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, **overrides)


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


def hub_of(live: Live) -> Hub:
    hub: Hub = live.app.state.services.hub
    return hub


def posted_ids(events: list[Frame]) -> list[int]:
    return [int(e["data"]["message"]["id"]) for e in events if e["kind"] == "message.posted"]


# --- a client that stops reading -------------------------------------------------------------------


SLOW = {"ws_queue_size": 8, "post_limit_per_user": 0, "max_message_chars": 20000}


Stall = Callable[[Actor], Awaitable[tuple[websockets.ClientConnection, Frame]]]


@pytest.fixture
async def stalled(live: Live, connect: Connector) -> AsyncIterator[Stall]:
    """Opens clients that will not read: a tiny receive buffer, and a frame queue that pauses the
    transport. Aborted at the end (a clean close would wait for buffers nobody drains)."""
    opened: list[websockets.ClientConnection] = []

    async def open_stalled(actor: Actor) -> tuple[websockets.ClientConnection, Frame]:
        """The socket and its hello (read, so the server has attached it)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: caps the TCP window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", live.port))
        ws = await websockets.connect(
            live.ws_url,
            sock=sock,
            additional_headers={"Authorization": f"Bearer {await connect.token(actor)}"},
            max_queue=1,
            compression=None,
            ping_interval=None,
        )
        opened.append(ws)
        hello: Frame = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        return ws, hello

    yield open_stalled
    for ws in opened:
        ws.transport.abort()


@pytest.mark.parametrize("overrides", [SLOW], ids=["queue of 8"])
async def test_a_client_that_stops_reading_is_cut_off_and_nobody_waits_for_it(
    live: Live, db: Database, cast: Cast, connect: Connector, stalled: Stall
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    alice, carol = await connect(cast.alice), await connect(cast.carol)
    slow, hello = await stalled(cast.bob)
    hub = hub_of(live)
    assert hub.connection_count(cast.bob.id) == 1

    acked: list[int] = []
    reading: asyncio.Task[list[Frame]] | None = None
    posted_after_cut = 0
    while posted_after_cut < 5:  # keep posting after the cut: the others still flow
        assert len(acked) < 1000, "the stalled client was never cut off"
        ack = await alice.request(
            "post", conversation=general, topic="load", body=secrets.token_hex(10000), nonce=next_id()
        )
        assert ack["type"] == "ack", ack
        acked.append(ack["message"]["id"])
        if hub.connection_count(cast.bob.id) == 0:  # cut off: the server forgot the socket at once
            posted_after_cut += 1
            # The stalled client reads again at once, so the close frame waiting behind what
            # the kernel buffers hold can still reach it.
            reading = reading or asyncio.create_task(read_until_closed(slow))

    # every post was acked (above) and reached the reader that kept up, in order
    await carol.wait_for(lambda f: f["type"] == "event" and posted_ids([f["event"]]) == acked[-1:])
    assert posted_ids(carol.events()) == acked
    assert alice.close_code is None and carol.close_code is None

    # the stalled client found a prefix of the stream, then the close
    assert reading is not None
    events = await reading
    assert (slow.close_code, slow.close_reason) == (4008, "slow consumer, resume")
    got = posted_ids(events)
    assert got == acked[: len(got)] and len(got) < len(acked)

    # ... and resuming from the last event it saw gets the rest, once
    bob = await connect(cast.bob)
    resumed = await bob.request("resume", after=events[-1]["id"] if events else hello["last_event_id"])
    assert resumed["type"] == "resumed"
    assert got + posted_ids(bob.events()) == acked


@pytest.mark.parametrize("overrides", [{**SLOW, "ws_max_per_user": 1}], ids=["queue of 8, 1 socket per user"])
async def test_a_client_cut_off_while_still_stalled_can_reconnect_at_once(
    live: Live, db: Database, cast: Cast, connect: Connector, stalled: Stall
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    alice = await connect(cast.alice)
    await stalled(cast.bob)
    hub = hub_of(live)
    posted = 0
    while hub.connection_count(cast.bob.id):
        assert posted < 1000, "the stalled client was never cut off"
        ack = await alice.request(
            "post", conversation=general, topic="load", body=secrets.token_hex(10000), nonce=next_id()
        )
        assert ack["type"] == "ack", ack
        posted += 1
    # The stalled socket still holds its buffers (even the close frame waits behind them), but its
    # slot is free: a client told "slow consumer, resume" reconnects now, not after a heartbeat timeout.
    bob = await connect_when_free(connect, cast.bob, "bob again")
    assert (await bob.request("ping"))["pong"] is True


async def read_until_closed(ws: websockets.ClientConnection) -> list[Frame]:
    """The events a socket receives until it is closed."""
    events: list[Frame] = []
    with pytest.raises(ConnectionClosed):
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            if frame["type"] == "event":
                events.append(frame["event"])
    return events


# --- retried posts ----------------------------------------------------------------------------------


async def test_a_retried_post_is_stored_once(live: Live, db: Database, cast: Cast, connect: Connector) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    bob, carol = await connect(cast.bob), await connect(cast.carol)
    before = await counts(db)
    frame = {"type": "post", "conversation": general, "topic": "t", "body": "only once", "nonce": "retry-1"}

    # twice before the first ack: both frames are on the wire before either answer
    start = len(bob.log)
    await bob.send({**frame, "id": "a"})
    await bob.send({**frame, "id": "b"})
    first, second = await bob.reply("a", start=start), await bob.reply("b", start=start)
    # once more after the ack, and again from a new connection (a client that lost its socket)
    third = await bob.request("post", **{k: v for k, v in frame.items() if k != "type"})
    await bob.close()
    bob_again = await connect(cast.bob)
    fourth = await bob_again.request("post", **{k: v for k, v in frame.items() if k != "type"})

    assert first["type"] == "ack" and first["created"] is True
    message = first["message"]
    for retry in (second, third, fourth):
        assert retry["type"] == "ack" and retry["created"] is False
        assert retry["message"]["id"] == message["id"] and retry["message"]["seq"] == message["seq"]
    after = await counts(db)
    assert (after["messages"], after["events"]) == (before["messages"] + 1, before["events"] + 1)
    await Barrier(db, general, cast.alice).sync([carol])
    assert posted_ids(carol.events())[:-1] == [message["id"]]  # then the barrier: one delivery in all


async def test_retries_racing_on_two_sockets_store_one_message(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    tabs = [await connect(cast.bob, name=f"bob {i}") for i in range(3)]
    before = await counts(db)
    fields = {"conversation": general, "topic": "t", "body": "raced", "nonce": "race-1"}
    replies = await asyncio.gather(*(tab.request("post", **fields) for tab in tabs))
    assert all(r["type"] == "ack" for r in replies), replies
    assert sorted(r["created"] for r in replies) == [False, False, True]
    assert len({r["message"]["id"] for r in replies}) == 1
    assert (await counts(db))["messages"] == before["messages"] + 1


async def test_a_nonce_reused_for_another_message_is_refused(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    bob = await connect(cast.bob)
    first = await bob.request("post", conversation=general, topic="t", body="one thing", nonce="same")
    before = await counts(db)
    other = await bob.request("post", conversation=general, topic="t", body="another thing", nonce="same")
    assert other["type"] == "error" and other["code"] == "nonce_reused"
    assert other["message_id"] == first["message"]["id"]
    assert await counts(db) == before


# --- connection limits ------------------------------------------------------------------------------


async def refused(connect: Connector, actor: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as exc:
        await connect.raw(actor)
    body = json.loads(exc.value.response.body or b"{}")
    return exc.value.response.status_code, body["error"]["code"]


async def connect_when_free(connect: Connector, actor: Any, name: str) -> Peer:
    """Connect, retrying while the server has not yet seen a closed socket go (no timing assumed)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                return await connect(actor, name=name)
            except InvalidStatus as exc:
                assert exc.response.status_code == 429
                await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "overrides", [{"ws_max_per_user": 2, "ws_max_per_address": 3}], ids=["2 per user, 3 per address"]
)
async def test_too_many_connections_are_refused_at_the_handshake(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    bob1, _bob2 = await connect(cast.bob, name="bob 1"), await connect(cast.bob, name="bob 2")
    assert await refused(connect, cast.bob) == (429, "too_many_connections")  # per user
    await connect(cast.carol)
    assert await refused(connect, cast.carol) == (429, "too_many_connections")  # per address: 3 from 127.0.0.1
    await bob1.close()
    await connect_when_free(connect, cast.carol, "carol 2")  # a slot freed by bob's close


@pytest.mark.parametrize("overrides", [{"ws_max_per_user": 2, "ws_max_per_address": 100}], ids=["2 per user"])
async def test_the_limit_holds_when_handshakes_race(live: Live, db: Database, cast: Cast, connect: Connector) -> None:
    attempts = await asyncio.gather(*(connect(cast.bob, name=f"bob {i}") for i in range(6)), return_exceptions=True)
    accepted = [a for a in attempts if isinstance(a, Peer)]
    refusals = [a for a in attempts if not isinstance(a, Peer)]
    assert len(accepted) == 2, attempts
    assert all(isinstance(r, InvalidStatus) and r.response.status_code == 429 for r in refusals), refusals


# --- opening sockets while events are committed ------------------------------------------------------


async def test_sockets_opened_while_messages_are_posted_get_every_later_event_once(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    """Whether a handshake replays the log (an event reached the hub during it) or not (none
    did), every event after its ``hello`` cursor arrives, once, in order."""
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    event_ids: list[int] = []

    async def keep_posting() -> None:
        for n in range(30):
            event_ids.append((await post(db, cast.alice, general, body=f"m{n}", topic="t")).event_id)
            await asyncio.sleep(0)

    posting = asyncio.create_task(keep_posting())
    peers = [await connect(cast.carol if n % 2 else cast.bob, name=f"tab {n}") for n in range(12)]
    await posting
    for peer in peers:
        await peer.wait_for(lambda f: f["type"] == "event" and f["event"]["id"] == event_ids[-1])
        got = [f["event"]["id"] for f in peer.log if f["type"] == "event"]
        cursor = peer.hello["last_event_id"]
        assert len(got) == len(set(got)), peer.name
        assert [i for i in got if i > cursor] == [i for i in event_ids if i > cursor], peer.name


# --- typing and presence ----------------------------------------------------------------------------


async def test_typing_goes_to_the_other_members_and_is_never_stored(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    everyone = await channel(db, cast.alice, "everyone", kind="private", members=[cast.maya, cast.bob, cast.carol])
    secret = await channel(db, cast.alice, "secret", kind="private", members=[cast.carol])
    peers = [await connect(getattr(cast, n)) for n in ("alice", "maya", "bob", "carol")]
    bob = peers[2]
    barrier = Barrier(db, everyone, cast.alice)
    before = await counts(db)
    replies: list[Frame] = []

    async def typing(conversation: int) -> None:
        replies.append(await bob.request("typing", conversation=conversation, topic="Q3"))

    got = await barrier.observe_frames(peers, lambda: typing(general))
    typed = {"type": "typing", "conversation": general, "topic": "Q3", "user": cast.bob.id}
    assert {name: [f for f in frames if f["type"] == "typing"] for name, frames in got.items()} == {
        "alice": [typed],
        "maya": [],  # not a member of general
        "bob": [],  # not echoed to the typist
        "carol": [typed],
    }
    assert replies[-1]["type"] == "ack"
    got = await barrier.observe_frames(peers, lambda: typing(secret))
    assert replies[-1]["type"] == "error" and replies[-1]["code"] == "conversation_not_found"
    assert all(f["type"] != "typing" for frames in got.values() for f in frames)
    after = await counts(db)
    assert after["events"] == before["events"] + 4  # the barrier posts (two per observation), none for typing


async def test_presence_is_told_to_the_people_who_share_a_conversation(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])  # bob and carol share it
    guests = await channel(db, cast.alice, "guests", kind="private", members=[cast.carol, cast.gus])  # not bob
    carol, gus = await connect(cast.carol), await connect(cast.gus)
    barrier = Barrier(db, guests, cast.alice)

    def about_bob(frames: list[Frame]) -> list[str]:
        return [u["status"] for f in frames if f["type"] == "presence" for u in f["users"] if u["user"] == cast.bob.id]

    opened: list[Peer] = []
    mark = len(carol.log)

    async def bob_connects() -> None:
        opened.append(await connect(cast.bob))
        # changes are flushed at most once a second, in one frame per connection: wait for it
        await carol.wait_for(lambda f: about_bob([f]) != [], start=mark)

    got = await barrier.observe_frames([carol, gus], bob_connects)
    assert about_bob(got["carol"]) == ["online"] and about_bob(got["gus"]) == []  # gus shares nothing with bob
    bob = opened[0]
    snapshot = [f for f in bob.log if f["type"] == "presence"]
    # one snapshot frame: carol is online, gus (who shares nothing with bob) is not told about
    assert snapshot == [{"type": "presence", "users": [{"user": cast.carol.id, "status": "online"}]}]
    mark = len(carol.log)

    async def bob_leaves() -> None:
        await bob.close()
        await carol.wait_for(lambda f: about_bob([f]) != [], start=mark)

    got = await barrier.observe_frames([carol, gus], bob_leaves)
    assert about_bob(got["carol"]) == ["offline"] and about_bob(got["gus"]) == []


# --- a long resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{"ws_queue_size": 16}], ids=["queue of 16"])
async def test_resume_replays_more_events_than_the_queue_holds(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    bob = await connect(cast.bob)
    cursor = bob.hello["last_event_id"]
    await bob.close()
    missed = [(await post(db, cast.alice, general, body=f"m{i}")).id for i in range(100)]
    bob = await connect(cast.bob)
    resumed = await bob.request("resume", after=cursor)
    assert resumed["type"] == "resumed" and bob.close_code is None
    assert posted_ids(bob.events()) == missed
    assert resumed["last_event_id"] >= bob.events()[-1]["id"]

"""The hub delivers each event, serialised once, to exactly the users who may see it.

The cast (user ids): alice admin, maya moderator, bob and carol members, gus guest.
Conversation 1 is alice, bob and gus; conversation 2 is carol's and maya's.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

import chat.realtime.hub as hub_module
from chat.domain.events import Audience, Event
from chat.realtime.broker import Broker, MemoryBroker, RedisBroker
from chat.realtime.connection import (
    CLOSE_DEACTIVATED,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_RESYNC,
    CLOSE_SLOW_CONSUMER,
    REASON_SLOW_CONSUMER,
    Connection,
)
from chat.realtime.hub import Hub, MembershipSnapshot
from chat.realtime.resumable import event_id_of
from tests.realtime.fakes import FakeSocket, GappyBroker, connection, make_event, settle

ALICE, MAYA, BOB, CAROL, GUS = 1, 2, 3, 4, 5
ROLES = {ALICE: "admin", MAYA: "moderator", BOB: "member", CAROL: "member", GUS: "guest"}
MEMBERSHIPS = {1: {ALICE, BOB, GUS}, 2: {CAROL, MAYA}}
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL", "")


def convs_of(user: int) -> set[int]:
    return {conv for conv, members in MEMBERSHIPS.items() if user in members}


def join(hub: Hub, user: int, *, as_of: int = 0, queue_size: int = 64, stuck: bool = False) -> FakeSocket:
    """Open a socket for ``user`` as the websocket layer will: one snapshot, one attach."""
    socket = FakeSocket(stuck=stuck)
    conn = connection(socket, queue_size=queue_size)
    assert hub.attach(conn, user_id=user, role=ROLES[user], conversation_ids=convs_of(user), as_of=as_of)
    return socket


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub(MemoryBroker(), presence=False)
    await hub.start()
    yield hub
    await hub.close()


@pytest.fixture
async def cast(hub: Hub) -> dict[int, FakeSocket]:
    return {user: join(hub, user) for user in ROLES}


def receivers(cast: dict[int, FakeSocket], event_id: int) -> set[int]:
    return {user for user, socket in cast.items() if event_id in socket.event_ids()}


@pytest.mark.parametrize(
    ("audience", "conversation", "subject", "expected"),
    [
        ("members", 1, None, {ALICE, BOB, GUS}),
        ("members", 2, None, {CAROL, MAYA}),
        ("everyone", None, None, {ALICE, MAYA, BOB, CAROL}),  # not the guest
        ("staff", None, BOB, {ALICE, MAYA}),
        ("admins", None, None, {ALICE}),  # not the moderator
        ("subject", None, BOB, {BOB}),
        ("subject", 2, CAROL, {CAROL}),
    ],
)
async def test_each_audience_reaches_exactly_its_users(
    hub: Hub,
    cast: dict[int, FakeSocket],
    audience: Audience,
    conversation: int | None,
    subject: int | None,
    expected: set[int],
) -> None:
    await hub.publish([make_event(7, conversation=conversation, audience=audience, subject=subject)])
    await settle()
    assert receivers(cast, 7) == expected


async def test_every_socket_of_a_user_receives(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    second_tab = join(hub, BOB)
    await hub.publish([make_event(1)])
    await settle()
    assert cast[BOB].event_ids() == second_tab.event_ids() == [1]


async def test_an_event_is_serialised_once_and_the_same_message_reaches_every_socket(
    hub: Hub, cast: dict[int, FakeSocket], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Event] = []
    encode = hub_module.event_frame

    def counting(event: Event) -> bytes:
        calls.append(event)
        return encode(event)

    monkeypatch.setattr(hub_module, "event_frame", counting)
    tab = FakeSocket()  # alice's second tab: a recipient too
    assert hub.attach(connection(tab), user_id=ALICE, role="admin", conversation_ids=convs_of(ALICE), as_of=0)
    event = make_event(9, data={"text": "Größe — ok"})
    await hub.publish([event])
    await settle()

    assert calls == [event]
    sockets = [cast[ALICE], cast[BOB], cast[GUS], tab]
    messages = [socket.messages[0] for socket in sockets]
    # one ASGI message object, built once, handed as it is to every socket's send
    assert all(m is messages[0] for m in messages)
    assert messages[0] == {"type": "websocket.send", "text": messages[0]["text"]}
    text = messages[0]["text"]
    assert isinstance(text, str)
    assert json.loads(text) == {"type": "event", "event": event.public()}
    assert " " not in text.replace("Größe — ok", "")  # compact
    assert cast[CAROL].frames == [] and cast[MAYA].frames == []


async def test_sockets_that_close_during_a_fan_out_do_not_disturb_the_others(
    hub: Hub, cast: dict[int, FakeSocket]
) -> None:
    vanished = FakeSocket(fail=True)  # bob's second tab: the peer is gone, its send raises
    assert hub.attach(connection(vanished), user_id=BOB, role="member", conversation_ids=convs_of(BOB), as_of=0)
    full = FakeSocket(stuck=True)  # alice's second tab: reads nothing, closed (4008) by the second event
    assert hub.attach(
        connection(full, queue_size=1), user_id=ALICE, role="admin", conversation_ids=convs_of(ALICE), as_of=0
    )
    await settle()
    closed = FakeSocket()  # gus's second tab closed just before
    assert hub.attach(connection(closed), user_id=GUS, role="guest", conversation_ids=convs_of(GUS), as_of=0)
    closed.conn.close_soon(1000)

    await hub.publish([make_event(i) for i in (1, 2, 3)])  # never raises
    await settle()

    assert [cast[u].event_ids() for u in (ALICE, BOB, GUS)] == [[1, 2, 3]] * 3
    assert vanished.closed_with == (CLOSE_INTERNAL_ERROR, "send failed")
    assert full.closed_with == (CLOSE_SLOW_CONSUMER, REASON_SLOW_CONSUMER)
    assert closed.closed_with == (1000, "") and closed.frames == []
    assert [hub.connection_count(u) for u in (ALICE, BOB, GUS)] == [1, 1, 1]


async def test_a_removed_member_gets_their_removal_and_nothing_after(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    removed = make_event(10, "member.removed", subject=BOB, members=(ALICE, GUS))
    await hub.publish([removed, make_event(11)])
    await settle()
    assert cast[BOB].event_ids() == [10]
    assert cast[ALICE].event_ids() == cast[GUS].event_ids() == [10, 11]
    assert cast[CAROL].event_ids() == []


async def test_every_member_a_change_removes_is_told(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    # e.g. a conversation turned into a smaller private group: one event, two people out.
    await hub.publish([make_event(10, "conversation.updated", members=(ALICE,)), make_event(11)])
    await settle()
    assert cast[BOB].event_ids() == cast[GUS].event_ids() == [10]
    assert cast[ALICE].event_ids() == [10, 11]


async def test_a_new_member_receives_from_their_join_on(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    await hub.publish([make_event(10, conversation=2)])
    joined = make_event(11, "member.joined", conversation=2, subject=BOB, members=(CAROL, MAYA, BOB))
    await hub.publish([joined, make_event(12, conversation=2)])
    await settle()
    assert cast[BOB].event_ids() == [11, 12]
    assert cast[CAROL].event_ids() == [10, 11, 12]


async def test_a_stale_snapshot_does_not_undo_a_newer_removal(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    await hub.publish([make_event(10, "member.removed", subject=BOB, members=(ALICE, GUS))])
    # Bob's new tab read his memberships before event 10 committed, and attaches after it arrived.
    late_tab = join(hub, BOB, as_of=9)
    await hub.publish([make_event(11)])
    await settle()
    assert late_tab.event_ids() == []
    assert cast[BOB].event_ids() == [10]


async def test_a_newer_snapshot_wins_over_the_table(hub: Hub) -> None:
    await hub.publish([make_event(10, "member.removed", subject=BOB, members=(ALICE, GUS))])
    # Bob was invited back by event 15, which this process has not received (yet).
    fresh = FakeSocket()
    hub.attach(connection(fresh), user_id=BOB, role="member", conversation_ids={1}, as_of=15)
    await hub.publish([make_event(16)])
    await settle()
    assert fresh.event_ids() == [16]


async def test_an_older_membership_event_arriving_late_is_ignored(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    # Two processes published 20 then 19; 19 arrives last and must not re-add bob.
    await hub.publish([make_event(20, "member.removed", subject=BOB, members=(ALICE, GUS))])
    await hub.publish([make_event(19, "member.joined", subject=GUS, members=(ALICE, BOB, GUS))])
    await hub.publish([make_event(21)])
    await settle()
    assert 21 not in cast[BOB].event_ids()
    assert 21 in cast[GUS].event_ids()


async def test_load_memberships_seeds_the_table_and_yields_to_newer_events(hub: Hub) -> None:
    hub.load_memberships({1: [ALICE, BOB], 2: [CAROL]}, as_of=5)
    await hub.publish([make_event(7, "member.left", conversation=2, subject=CAROL, members=())])
    hub.load_memberships({1: [ALICE, BOB], 2: [CAROL]}, as_of=6)  # a slower query, older than event 7
    # Connections whose snapshots are older than the table: the table decides.
    sockets = {}
    for user in (ALICE, BOB, CAROL):
        sockets[user] = FakeSocket()
        hub.attach(connection(sockets[user]), user_id=user, role="member", conversation_ids=(), as_of=0)
    await hub.publish([make_event(8), make_event(9, conversation=2)])
    await settle()
    assert {u: s.event_ids() for u, s in sockets.items()} == {ALICE: [8], BOB: [8], CAROL: []}


async def test_deactivation_closes_every_socket_of_the_user(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    second_tab = join(hub, BOB)
    await hub.publish([make_event(30, "user.deactivated", conversation=None, audience="staff", subject=BOB)])
    await hub.publish([make_event(31)])
    await settle()
    for socket in (cast[BOB], second_tab):
        assert socket.closed_with == (CLOSE_DEACTIVATED, "account deactivated")
        assert socket.event_ids() == []
    assert hub.connection_count(BOB) == 0
    assert cast[ALICE].event_ids() == [30, 31]
    # A socket opened from a snapshot older than the deactivation is refused at once.
    late = FakeSocket()
    assert not hub.attach(connection(late), user_id=BOB, role="member", conversation_ids={1}, as_of=29)
    await settle()
    assert late.closed_with == (CLOSE_DEACTIVATED, "account deactivated")
    # Reactivated later (a snapshot newer than the event): welcome back.
    assert hub.attach(connection(FakeSocket()), user_id=BOB, role="member", conversation_ids={1}, as_of=40)


async def test_a_role_change_applies_before_delivery(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    promoted = make_event(
        40, "user.role_changed", conversation=None, audience="staff", subject=BOB, data={"role": "moderator"}
    )
    demoted = make_event(
        41, "user.role_changed", conversation=None, audience="subject", subject=CAROL, data={"user": {"role": "guest"}}
    )
    await hub.publish([promoted, demoted])
    await hub.publish([make_event(42, conversation=None, audience="staff")])
    await hub.publish([make_event(43, conversation=None, audience="everyone")])
    await settle()
    assert cast[BOB].event_ids() == [40, 42, 43]
    assert cast[CAROL].event_ids() == [41]
    # A socket whose snapshot predates the change gets the new role, not the stale one.
    stale = FakeSocket()
    hub.attach(connection(stale), user_id=CAROL, role="member", conversation_ids={2}, as_of=0)
    await hub.publish([make_event(44, conversation=None, audience="everyone")])
    await settle()
    assert stale.event_ids() == []


async def test_a_slow_consumer_is_cut_off_and_nobody_waits_for_it(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    slow = join(hub, BOB, queue_size=4, stuck=True)
    events = [make_event(n) for n in range(100, 120)]

    # The publisher returns even though one socket never completes a send.
    await asyncio.wait_for(hub.publish(events), timeout=10)
    await settle()

    assert slow.closed_with == (CLOSE_SLOW_CONSUMER, REASON_SLOW_CONSUMER)
    assert slow.frames == []
    assert hub.connection_count(BOB) == 1  # only the slow socket was dropped; bob's other tab stays
    expected = [e.id for e in events]
    assert cast[BOB].event_ids() == cast[ALICE].event_ids() == cast[GUS].event_ids() == expected


async def test_typing_goes_to_the_other_members_and_is_not_an_event(hub: Hub, cast: dict[int, FakeSocket]) -> None:
    typing = {"type": "typing", "conversation": 1, "topic": "Q3 tender", "user": BOB}
    await hub.send_ephemeral(1, typing, except_user=BOB)
    await settle()
    assert {u for u, s in cast.items() if s.of_type("typing") == [typing]} == {ALICE, GUS}
    assert cast[BOB].frames == []


async def test_presence_goes_to_users_who_share_a_conversation() -> None:
    hub = Hub(MemoryBroker(), presence_coalesce_s=0)  # who is told; coalescing: the tests below
    await hub.start()
    try:
        bob, carol = join(hub, BOB), join(hub, CAROL)
        await settle()
        first = join(hub, ALICE)
        second = join(hub, ALICE)  # a second tab changes nothing
        await settle()
        assert bob.of_type("presence") == [{"type": "presence", "users": [{"user": ALICE, "status": "online"}]}]
        assert carol.frames == [] and first.frames == []  # carol shares nothing with alice
        assert hub.online_peers(BOB) == {ALICE} and hub.is_online(ALICE)

        for socket in (first, second):
            socket.conn.close_soon(1000)
            await settle()
        assert bob.presence() == [[(ALICE, "online")], [(ALICE, "offline")]]
        assert hub.online_peers(BOB) == set() and not hub.is_online(ALICE)
    finally:
        await hub.close()


async def test_many_users_coming_online_reach_each_peer_in_few_frames() -> None:
    """A hundred members of one channel connect at once: each gets a handful of frames that
    together say everyone else is online, not a frame per member (quadratic: 9,900 frames)."""
    team = list(range(100, 200))
    hub = Hub(MemoryBroker(), presence_coalesce_s=3600)  # one flush at once, the next an hour away
    await hub.start()
    try:
        hub.load_memberships({7: team}, as_of=0)
        sockets: dict[int, FakeSocket] = {}
        snapshots: dict[int, set[int]] = {}  # what the websocket layer sends after hello
        for user in team:
            sockets[user] = FakeSocket()
            conn = connection(sockets[user], queue_size=256)
            assert hub.attach(conn, user_id=user, role="member", conversation_ids={7}, as_of=0)
            snapshots[user] = hub.online_peers(user)
            if user == team[0]:
                await settle()  # the first change is flushed at once (to nobody): the next is an hour away
        await settle()
        assert all(s.frames == [] for s in sockets.values())  # held: the interval is not over
        hub._flush_presence()  # the interval ends (the timer's callback, called now)
        await settle()
        for user, socket in sockets.items():
            assert len(socket.presence()) == 1  # one frame
            known = {u: "online" for u in snapshots[user]} | socket.statuses()
            assert known == {u: "online" for u in team if u != user}  # never about themselves
        total = sum(len(s.frames) for s in sockets.values())
        assert total == len(team)
    finally:
        await hub.close()


async def test_a_flush_tells_each_peer_the_status_users_have_then() -> None:
    hub = Hub(MemoryBroker(), presence_coalesce_s=3600)
    await hub.start()
    try:
        bob = join(hub, BOB)
        await settle()
        alice, gus = join(hub, ALICE), join(hub, GUS)
        await settle()
        alice.conn.close_soon(1000)  # alice came and went: back where bob was last told
        for _ in range(3):  # gus's second tab comes and goes: he stays online throughout
            join(hub, GUS).conn.close_soon(1000)
        await settle()
        hub._flush_presence()
        await settle()
        assert bob.presence() == [[(GUS, "online")]]
        gus.conn.close_soon(1000)
        await settle()
        hub._flush_presence()
        await settle()
        assert bob.presence() == [[(GUS, "online")], [(GUS, "offline")]]
    finally:
        await hub.close()


async def test_joining_a_conversation_introduces_online_members_to_each_other() -> None:
    hub = Hub(MemoryBroker())
    await hub.start()
    try:
        alice, carol = join(hub, ALICE), join(hub, CAROL)  # they share no conversation yet
        await settle()
        assert alice.of_type("presence") == [] and carol.of_type("presence") == []
        members = (*sorted(MEMBERSHIPS[1]), CAROL)
        await hub.publish([make_event(60, "member.joined", conversation=1, subject=CAROL, members=members)])
        await settle()
        hub._flush_presence()  # if the interval since the last flush was not over yet
        await settle()
        assert carol.statuses() == {ALICE: "online"} and len(carol.presence()) == 1
        assert alice.presence() == [[(CAROL, "online")]]
    finally:
        await hub.close()


async def test_presence_and_typing_never_close_a_busy_socket() -> None:
    hub = Hub(MemoryBroker())
    await hub.start()
    try:
        slow = join(hub, BOB, queue_size=4, stuck=True)  # reads nothing: its queue fills up
        await settle()
        for _ in range(20):  # alice's tabs come and go, and she types: a flood of ephemeral frames
            tab = join(hub, ALICE)
            await hub.send_ephemeral(1, {"type": "typing", "conversation": 1, "user": ALICE}, except_user=ALICE)
            await settle()
            tab.conn.close_soon(1000)
            await settle()
        assert slow.closed_with is None and not slow.conn.closed
        # an event still gets its place, and an event that does not fit closes the socket as before
        await hub.publish([make_event(i) for i in range(1, 8)])
        await settle()
        assert slow.closed_with is not None and slow.closed_with[0] == 4008
    finally:
        await hub.close()


async def test_a_broker_gap_closes_every_socket_and_reloads_the_table() -> None:
    loads: list[int] = []

    async def loader() -> MembershipSnapshot:
        loads.append(1)
        return {conv: set(members) for conv, members in MEMBERSHIPS.items()}, 50

    broker = GappyBroker()
    hub = Hub(broker, loader=loader, presence=False)
    await hub.start()
    try:
        sockets = [join(hub, ALICE), join(hub, CAROL)]
        broker.gap()
        await settle()
        assert all(s.closed_with == (CLOSE_RESYNC, "events may have been lost, resume") for s in sockets)
        assert len(loads) == 2  # at start, and after the gap
    finally:
        await hub.close()


async def test_during_a_broker_outage_event_frames_hold_cursors_at_the_last_event_delivered_before_it() -> None:
    broker = GappyBroker()
    hub = Hub(broker, presence=False)
    await hub.start()
    try:
        before = join(hub, ALICE)
        await hub.publish([make_event(10)])
        broker.down = True  # this process goes on delivering its own events; the others' are missing
        await hub.publish([make_event(12), make_event(13)])
        await settle()
        frames = before.of_type("event")
        assert [(f["event"]["id"], f.get("cursor")) for f in frames] == [(10, None), (12, 10), (13, 10)]
        assert event_id_of(before.frames[-1]) == 13  # a held frame is still matched by id on release
        opened_during = join(hub, BOB, as_of=13)  # its hello cursor (13) is higher: a client keeps the higher
        await hub.publish([make_event(14)])
        await settle()
        assert opened_during.of_type("event")[-1]["cursor"] == 10
        broker.down = False
        broker.gap()  # back: every socket resumes from the cursor it kept, and frames carry no cursor again
        await settle()
        assert before.closed_with is not None and before.closed_with[0] == CLOSE_RESYNC
        assert opened_during.closed_with is not None and opened_during.closed_with[0] == CLOSE_RESYNC
        after = join(hub, ALICE, as_of=14)
        await hub.publish([make_event(15)])
        await settle()
        assert [(f["event"]["id"], f.get("cursor")) for f in after.of_type("event")] == [(15, None)]
        assert hub.horizon == 15
    finally:
        await hub.close()


async def test_a_commit_in_doubt_caps_cursors_until_the_database_answers_then_every_socket_resumes() -> None:
    loads: list[int] = []
    answered = asyncio.Event()

    async def loader() -> MembershipSnapshot:
        loads.append(1)
        if len(loads) in (2, 3):  # the database is still restarting
            raise ConnectionRefusedError("the database is starting up")
        if len(loads) > 1:
            answered.set()
        return {conv: set(members) for conv, members in MEMBERSHIPS.items()}, 50

    hub = Hub(MemoryBroker(), loader=loader, presence=False)
    await hub.start()
    try:
        alice = join(hub, ALICE)
        await hub.publish([make_event(10), make_event(12)])  # 12 got through before the doubt was known
        hub.commit_in_doubt(11)  # event 11's COMMIT lost its connection: it may be in the log
        await settle()
        mark = hub.event_mark
        await hub.publish([make_event(13)])
        await settle()
        frames = alice.of_type("event")
        assert [(f["event"]["id"], f.get("cursor")) for f in frames] == [(10, None), (12, None), (13, 10)]
        assert not hub.nothing_since(mark)  # a socket opened now must replay
        assert alice.closed_with is None
        async with asyncio.timeout(30):
            await answered.wait()  # the database answers at the third try
        await settle()
        assert alice.closed_with == (CLOSE_RESYNC, "events may have been lost, resume")
        assert len(loads) >= 4  # at start, twice refused, then the one that settled (and a reload)
        after = join(hub, ALICE, as_of=13)
        await hub.publish([make_event(14)])
        await settle()
        assert [(f["event"]["id"], f.get("cursor")) for f in after.of_type("event")] == [(14, None)]
        assert hub.horizon == 14
    finally:
        await hub.close()


async def test_a_hub_closing_while_it_waits_for_the_database_stops_waiting() -> None:
    tries: list[int] = []
    retried = asyncio.Event()

    async def loader() -> MembershipSnapshot:
        tries.append(1)
        if len(tries) == 1:
            return {}, 0
        if len(tries) == 3:
            retried.set()
        raise ConnectionRefusedError("the database is down")

    hub = Hub(MemoryBroker(), loader=loader, presence=False)
    await hub.start()
    alice = join(hub, ALICE)
    hub.commit_in_doubt(11)
    async with asyncio.timeout(30):
        await retried.wait()  # waiting for the database
    await hub.close()
    assert alice.closed_with is not None and alice.closed_with[0] == CLOSE_GOING_AWAY
    tried = len(tries)
    await asyncio.sleep(1.0)  # longer than the waits between tries so far
    assert len(tries) == tried


async def test_nothing_since_a_mark_only_while_no_event_arrived_and_none_can_be_lost() -> None:
    broker = GappyBroker()
    hub = Hub(broker, presence=False)
    await hub.start()
    try:
        mark = hub.event_mark
        assert hub.nothing_since(mark)
        await hub.send_ephemeral(1, {"type": "typing", "conversation": 1, "user": ALICE})  # not an event
        assert hub.nothing_since(mark)
        await hub.publish([make_event(10, conversation=2)])  # an event, even one nobody here may see
        assert not hub.nothing_since(mark)
        mark = hub.event_mark
        broker.down = True  # other processes' events may be missing
        assert not hub.nothing_since(mark)
    finally:
        await hub.close()


async def test_closing_the_hub_closes_the_sockets_with_going_away(hub: Hub) -> None:
    socket = join(hub, ALICE)
    await hub.close()
    assert socket.closed_with == (CLOSE_GOING_AWAY, "server shutting down")
    late = FakeSocket()
    assert not hub.attach(connection(late), user_id=BOB, role="member", conversation_ids=(), as_of=0)


async def test_a_connection_is_attached_once(hub: Hub) -> None:
    conn = connection(FakeSocket())
    hub.attach(conn, user_id=ALICE, role="admin", conversation_ids=(), as_of=0)
    with pytest.raises(ValueError, match="already attached"):
        hub.attach(conn, user_id=ALICE, role="admin", conversation_ids=(), as_of=0)
    closed = Connection(FakeSocket().send, FakeSocket().close)
    closed.close_soon(1000)
    assert not hub.attach(closed, user_id=ALICE, role="admin", conversation_ids=(), as_of=0)
    await closed.wait_closed()


# -- several server processes over Redis ---------------------------------------------------------------


@pytest.fixture
async def two_processes() -> AsyncIterator[tuple[Hub, Hub]]:
    if not REDIS_URL:
        pytest.skip("needs CHAT_TEST_REDIS_URL (Redis)")
    channel = f"salon:test:{uuid.uuid4().hex}"
    hubs = []
    for _ in range(2):
        broker: Broker = RedisBroker(REDIS_URL, channel=channel)
        hub = Hub(broker, presence_coalesce_s=0)  # each change flushed a loop turn after it: markers order them
        await hub.start()
        hub.load_memberships(MEMBERSHIPS, as_of=0)
        hubs.append(hub)
    yield hubs[0], hubs[1]
    for hub in hubs:
        await hub.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for a cross-process delivery: Redis is real I/O."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.redis
async def test_two_processes_fan_out_each_others_events(two_processes: tuple[Hub, Hub]) -> None:
    first, second = two_processes
    alice = join(first, ALICE)
    bob, carol = join(second, BOB), join(second, CAROL)
    await until(lambda: alice.statuses() == {BOB: "online"}, "bob's presence on the other process")

    await first.publish([make_event(60), make_event(61, "member.removed", subject=BOB, members=(ALICE, GUS))])
    await until(lambda: bob.event_ids() == [60, 61], "bob's events")
    # Order holds per publishing process; across processes clients rely on seq, so wait first.
    await second.publish([make_event(62)])
    await until(lambda: alice.event_ids() == [60, 61, 62], "alice's events")
    assert carol.event_ids() == []


@pytest.mark.redis
async def test_presence_spans_processes(two_processes: tuple[Hub, Hub]) -> None:
    first, second = two_processes
    bob = join(first, BOB)
    alice_here = join(second, ALICE)
    await until(lambda: bob.presence() == [[(ALICE, "online")]], "online")
    alice_there = join(first, ALICE)
    alice_here.conn.close_soon(1000)
    await settle()  # the hub has queued its announcement; an event published now arrives after it
    await second.publish([make_event(70)])
    await until(lambda: 70 in bob.event_ids(), "a marker event from the second process")
    # alice still has a tab on the first process: nothing was announced
    assert bob.presence() == [[(ALICE, "online")]]
    alice_there.conn.close_soon(1000)
    await until(lambda: bob.presence() == [[(ALICE, "online")], [(ALICE, "offline")]], "offline")

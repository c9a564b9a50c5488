"""One test module for every broker: bytes in, the same bytes out, in order, to every process.

The Redis cases need ``CHAT_TEST_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/5``). Pub/sub
channels are shared by every database of a Redis server, so each test uses its own channel.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from chat.realtime.broker import Broker, MemoryBroker, RedisBroker, broker_from_url

REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL", "")
needs_redis = [
    pytest.mark.redis,
    pytest.mark.skipif(not REDIS_URL, reason="needs CHAT_TEST_REDIS_URL (Redis)"),
]
WAIT = 10  # seconds before a test gives up waiting for a delivery (a guard, not a measurement)

BrokerFactory = Callable[[], Broker]


class Inbox:
    """A subscriber that collects payloads and gaps."""

    def __init__(self) -> None:
        self.payloads: asyncio.Queue[bytes] = asyncio.Queue()
        self.gaps = 0
        self.gap_seen = asyncio.Event()

    def on_message(self, payload: bytes) -> None:
        self.payloads.put_nowait(payload)

    def on_gap(self) -> None:
        self.gaps += 1
        self.gap_seen.set()

    async def next(self) -> bytes:
        return await asyncio.wait_for(self.payloads.get(), timeout=WAIT)


@pytest.fixture(
    params=[pytest.param("memory", id="memory"), pytest.param("redis", id="redis", marks=needs_redis)],
)
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerFactory]:
    """A factory of brokers that share one bus: for Redis, several "server processes" on one
    channel; in memory there is only one process, so it always returns the same broker."""
    made: list[Broker] = []
    channel = f"salon:test:{uuid.uuid4().hex}"
    memory = MemoryBroker()

    def make() -> Broker:
        broker: Broker = memory if request.param == "memory" else RedisBroker(REDIS_URL, channel=channel)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()


async def started(broker: Broker) -> Inbox:
    inbox = Inbox()
    broker.subscribe(inbox.on_message, inbox.on_gap)
    await broker.start()
    return inbox


async def test_a_subscriber_receives_the_exact_bytes(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    inbox = await started(broker)
    payload = b'{"k":"event"}\n\x00\xff binary is fine \n'
    await broker.publish(payload)
    assert await inbox.next() == payload


async def test_payloads_arrive_in_publish_order(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    inbox = await started(broker)
    for n in range(200):
        await broker.publish(b"%d" % n)
    assert [await inbox.next() for _ in range(200)] == [b"%d" % n for n in range(200)]


async def test_a_failing_subscriber_does_not_stop_delivery(make_broker: BrokerFactory) -> None:
    broker = make_broker()

    def explode(payload: bytes) -> None:
        raise RuntimeError("subscriber bug")

    broker.subscribe(explode)
    inbox = await started(broker)
    await broker.publish(b"one")
    await broker.publish(b"two")
    assert [await inbox.next(), await inbox.next()] == [b"one", b"two"]


async def test_nothing_is_delivered_after_close(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    inbox = await started(broker)
    await broker.close()
    await broker.close()  # idempotent
    await broker.publish(b"late")  # dropped, never raised
    await asyncio.sleep(0)
    assert inbox.payloads.empty()


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_redis)])
async def test_two_processes_both_receive_what_either_publishes(_: None) -> None:
    channel = f"salon:test:{uuid.uuid4().hex}"
    first, second = RedisBroker(REDIS_URL, channel=channel), RedisBroker(REDIS_URL, channel=channel)
    try:
        inbox1, inbox2 = await started(first), await started(second)
        await first.publish(b"from one")
        await second.publish(b"from two")
        for inbox in (inbox1, inbox2):
            assert {await inbox.next(), await inbox.next()} == {b"from one", b"from two"}
    finally:
        await first.close()
        await second.close()


async def _kill_connections_named(name: str) -> int:
    admin = Redis.from_url(REDIS_URL)
    try:
        killed = 0
        for client in await admin.client_list():
            if client.get("name") == name:
                await admin.client_kill_filter(_id=client["id"])
                killed += 1
        return killed
    finally:
        await admin.aclose()


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_redis)])
async def test_the_subscriber_reconnects_and_reports_the_gap(_: None) -> None:
    broker = RedisBroker(REDIS_URL, channel=f"salon:test:{uuid.uuid4().hex}")
    try:
        inbox = await started(broker)
        assert await _kill_connections_named(f"{broker.client_name}:sub") == 1  # only our own connection

        await asyncio.wait_for(inbox.gap_seen.wait(), timeout=WAIT)
        await broker.publish(b"after the drop")
        assert await inbox.next() == b"after the drop"
        assert inbox.gaps == 1
    finally:
        await broker.close()


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_redis)])
async def test_a_process_receives_its_own_payload_once(_: None) -> None:
    """Delivered directly by ``publish``; the copy that comes back from Redis is skipped."""
    channel = f"salon:test:{uuid.uuid4().hex}"
    first, second = RedisBroker(REDIS_URL, channel=channel), RedisBroker(REDIS_URL, channel=channel)
    try:
        inbox1, inbox2 = await started(first), await started(second)
        await first.publish(b"mine")
        assert await inbox2.next() == b"mine"  # Redis has sent it to every subscriber by now
        await second.publish(b"marker")
        assert [await inbox1.next(), await inbox1.next()] == [b"mine", b"marker"]
        assert inbox1.payloads.empty() and inbox1.gaps == 0
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_redis)])
async def test_a_publish_across_a_dropped_connection_is_delivered_or_reported(_: None) -> None:
    """At-most-once, but never silently: a payload lost on the way is announced as a gap."""
    channel = f"salon:test:{uuid.uuid4().hex}"
    broker, other = RedisBroker(REDIS_URL, channel=channel), RedisBroker(REDIS_URL, channel=channel)
    try:
        own, inbox = await started(broker), await started(other)
        await broker.publish(b"warm up")  # opens the publishing connection
        assert await inbox.next() == b"warm up"
        assert await _kill_connections_named(f"{broker.client_name}:pub") == 1

        await broker.publish(b"maybe lost")
        received: list[bytes] = []
        for attempt in range(50):  # what was queued behind a failed publish is dropped too: probe
            await broker.publish(b"probe %d" % attempt)
            try:
                while not (payload := await asyncio.wait_for(inbox.payloads.get(), timeout=0.2)).startswith(b"probe"):
                    received.append(payload)
                break
            except TimeoutError:
                continue
        assert received == [b"maybe lost"] or (received == [] and inbox.gaps == 1)
        # the publishing process itself missed nothing: it delivered everything directly
        assert [await own.next(), await own.next()] == [b"warm up", b"maybe lost"]
        assert own.gaps == 0
    finally:
        await broker.close()
        await other.close()


async def test_a_start_while_redis_is_down_does_not_raise_and_delivers_here() -> None:
    """Same-process delivery goes on without Redis; the broker says it is not connected."""
    broker = RedisBroker("redis://127.0.0.1:1/0", channel="salon:test:unreachable")
    inbox = await started(broker)  # returns after the first failed attempt, keeps retrying
    assert not broker.connected
    await broker.publish(b"here only")
    assert await inbox.next() == b"here only"
    await broker.close()
    await broker.publish(b"after close")
    assert inbox.payloads.empty()


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_redis)])
async def test_connected_follows_the_subscription(_: None) -> None:
    broker = RedisBroker(REDIS_URL, channel=f"salon:test:{uuid.uuid4().hex}", min_backoff_s=0.5)
    try:
        await started(broker)
        assert broker.connected
        assert await _kill_connections_named(f"{broker.client_name}:sub") == 1
        while broker.connected:  # noqa: ASYNC110 - polling a flag the listener task sets
            await asyncio.sleep(0.01)
        while not broker.connected:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    finally:
        await broker.close()
    assert not broker.connected
    assert MemoryBroker().connected is False  # not started


def test_brokers_are_chosen_by_url() -> None:
    assert isinstance(broker_from_url("memory://"), MemoryBroker)
    redis = broker_from_url("redis://127.0.0.1:6379/5")
    assert isinstance(redis, RedisBroker)
    assert redis.channel == "salon:events:5"  # pub/sub ignores the db number; the channel does not
    assert isinstance(broker_from_url("rediss://cache.example:6380"), RedisBroker)
    custom = broker_from_url("redis://h/2", channel="custom")
    assert isinstance(custom, RedisBroker) and custom.channel == "custom"
    with pytest.raises(ValueError, match="unsupported broker URL"):
        broker_from_url("amqp://localhost")

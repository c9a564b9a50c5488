"""The hub closes the sockets whose credential an event ended, re-reads roles, and coalesces presence.

Same cast as test_hub.py: alice 1 (admin), maya 2 (moderator), bob 3 and carol 4 (members), gus 5 (guest).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat.realtime.broker import MemoryBroker, RedisBroker
from chat.realtime.connection import CLOSE_CREDENTIAL_REVOKED
from chat.realtime.credentials import Credential
from chat.realtime.hub import Hub
from tests.realtime.fakes import FakeSocket, connection, make_event, settle

ALICE, MAYA, BOB, CAROL = 1, 2, 3, 4
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL", "")
SESSION_A, SESSION_B = "a" * 16, "b" * 16


def open_socket(hub: Hub, user: int, credential: Credential, *, role: str = "member", as_of: int = 0) -> FakeSocket:
    socket = FakeSocket()
    hub.attach(connection(socket), user_id=user, role=role, conversation_ids={1}, as_of=as_of, credential=credential)
    return socket


def account_event(id: int, kind: str, user: int, **data: Any) -> Any:
    return make_event(id, kind, conversation=None, audience="subject", subject=user, data={"user_id": user, **data})


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub(MemoryBroker(), presence=False)
    await hub.start()
    yield hub
    await hub.close()


async def test_logout_closes_the_sockets_of_that_session_only(hub: Hub) -> None:
    a1, a2 = open_socket(hub, BOB, Credential(session=SESSION_A)), open_socket(hub, BOB, Credential(session=SESSION_A))
    b, token = open_socket(hub, BOB, Credential(session=SESSION_B)), open_socket(hub, BOB, Credential(token=7))
    carol_same_tag = open_socket(hub, CAROL, Credential(session=SESSION_A))  # another user's: not hers to end
    await hub.publish([account_event(10, "session.logout", BOB, session=SESSION_A)])
    await settle()
    assert a1.closed_with == a2.closed_with == (CLOSE_CREDENTIAL_REVOKED, "logged out")
    assert b.closed_with is token.closed_with is carol_same_tag.closed_with is None
    assert hub.current_role(a1.conn) is None and hub.current_role(b.conn) == "member"


async def test_a_revoked_token_closes_its_sockets_and_a_password_change_the_other_sessions(hub: Hub) -> None:
    kept = open_socket(hub, BOB, Credential(session=SESSION_A))
    other = open_socket(hub, BOB, Credential(session=SESSION_B))
    token7, token8 = open_socket(hub, BOB, Credential(token=7)), open_socket(hub, BOB, Credential(token=8))
    await hub.publish([account_event(10, "token.revoked", BOB, token_id=7, name="ci")])
    await settle()
    assert token7.closed_with == (CLOSE_CREDENTIAL_REVOKED, "token revoked") and token8.closed_with is None
    await hub.publish([account_event(11, "user.password_changed", BOB, kept_session=SESSION_A)])
    await settle()
    assert other.closed_with == (CLOSE_CREDENTIAL_REVOKED, "password changed")
    assert kept.closed_with is None and token8.closed_with is None  # tokens survive a password change
    await hub.publish([account_event(12, "user.password_changed", BOB, kept_session=None)])  # changed over a token
    await settle()
    assert kept.closed_with == (CLOSE_CREDENTIAL_REVOKED, "password changed") and token8.closed_with is None


async def test_a_socket_checked_before_the_revocation_is_refused_when_it_attaches(hub: Hub) -> None:
    await hub.publish([account_event(20, "session.logout", BOB, session=SESSION_A)])
    await settle()
    late = FakeSocket()
    attached = hub.attach(
        connection(late), user_id=BOB, role="member", conversation_ids=(), as_of=19, credential=Credential(SESSION_A)
    )
    await settle()
    assert not attached and late.closed_with == (CLOSE_CREDENTIAL_REVOKED, "logged out")
    # a snapshot that includes the logout checked the session itself; other sessions attach
    assert open_socket(hub, BOB, Credential(session=SESSION_B), as_of=19).closed_with is None


async def test_a_session_socket_is_closed_when_the_session_expires(hub: Hub) -> None:
    expiring = open_socket(hub, BOB, Credential(session=SESSION_A, expires_at=time.time() + 0.05))
    lasting = open_socket(hub, BOB, Credential(session=SESSION_B, expires_at=time.time() + 3600))
    await until(lambda: expiring.closed_with is not None, "the session to expire")
    assert expiring.closed_with == (CLOSE_CREDENTIAL_REVOKED, "session expired")
    assert lasting.closed_with is None
    lasting.conn.close_soon(1000)  # its expiry timer goes with it
    await settle()
    assert lasting.closed_with == (1000, "")


async def test_a_role_change_is_what_the_next_frame_acts_with(hub: Hub) -> None:
    maya = open_socket(hub, MAYA, Credential(token=1), role="moderator")
    assert hub.current_role(maya.conn) == "moderator"
    demoted = {"user_id": MAYA, "role": "member", "previous_role": "moderator"}
    await hub.publish(
        [make_event(30, "user.role_changed", conversation=None, audience="everyone", subject=MAYA, data=demoted)]
    )
    await hub.publish([make_event(31, "invitation.created", conversation=None, audience="staff")])
    await settle()
    assert hub.current_role(maya.conn) == "member" and maya.closed_with is None
    assert maya.event_ids() == [30]  # the change itself, not the staff event after it


async def test_presence_about_a_flapping_user_is_coalesced_and_the_last_status_told() -> None:
    hub = Hub(MemoryBroker(), presence_coalesce_s=3600)
    await hub.start()
    try:
        bob = open_socket(hub, BOB, Credential(token=1))
        await settle()  # bob's own change is flushed at once (to nobody): the next flush is an hour away
        for _ in range(5):  # alice comes and goes, ten changes within the interval
            tab = open_socket(hub, ALICE, Credential(token=2), role="admin")
            tab.conn.close_soon(1000)
        await settle()
        assert bob.frames == []  # held until the interval ends
        hub._flush_presence()  # the interval ends (the timer's callback, called now)
        await settle()
        assert bob.presence() == []  # alice is where she was when the interval began: nothing to tell
        tab = open_socket(hub, ALICE, Credential(token=2), role="admin")
        for _ in range(3):
            open_socket(hub, ALICE, Credential(token=3), role="admin").conn.close_soon(1000)
        await settle()
        hub._flush_presence()
        await settle()
        assert bob.presence() == [[(ALICE, "online")]]  # one frame, the status she has now
        tab.conn.close_soon(1000)
        await settle()
        hub._flush_presence()
        await settle()
        assert bob.presence() == [[(ALICE, "online")], [(ALICE, "offline")]]
    finally:
        await hub.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.redis
async def test_a_revocation_closes_the_sockets_on_another_process() -> None:
    if not REDIS_URL:
        pytest.skip("needs CHAT_TEST_REDIS_URL (Redis)")
    channel = f"salon:test:{uuid.uuid4().hex}"
    first, second = (Hub(RedisBroker(REDIS_URL, channel=channel), presence=False) for _ in range(2))
    for hub in (first, second):
        await hub.start()
    try:
        there = open_socket(second, BOB, Credential(token=9))
        await first.publish([account_event(40, "token.revoked", BOB, token_id=9)])
        await until(lambda: there.closed_with is not None, "the other process to close the socket")
        assert there.closed_with == (CLOSE_CREDENTIAL_REVOKED, "token revoked")
    finally:
        for hub in (first, second):
            await hub.close()

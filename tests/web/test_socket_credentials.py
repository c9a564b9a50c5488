"""An open websocket acts with the rights its credential has now, over a real server.

Each trigger that ends a credential (logout, token revoked, password changed from
another session, deactivation, the session's expiry) closes exactly the sockets opened with it, with its
documented close code, and a frame sent after it changes nothing. A role change
keeps the socket open and applies at once: to the next frame, to live delivery and
to ``resume``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2
import pytest
import websockets
from sqlalchemy import update
from websockets.exceptions import InvalidStatus

from chat.accounts.commands import CreateInvitation
from chat.accounts.invitations import create_invitation
from chat.accounts.sessions import session_id_of
from chat.accounts.users import create_user
from chat.domain.actors import Actor
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, post
from tests.conftest import Live
from tests.factories import Cast, password_of
from tests.web.socket_support import Barrier, Connector, Peer, connector, kinds, next_id


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


@pytest.fixture
async def http(live: Live) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=live.base_url) as client:
        yield client


@dataclass
class Browser:
    """A logged-in session: its cookie secret, for REST calls and for sockets opened with it."""

    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"salon_session={self.secret}"}


async def login(http: httpx2.AsyncClient, actor: Actor, password: str | None = None) -> Browser:
    response = await http.post(
        "/api/v1/session", json={"username": actor.username, "password": password or password_of(actor.username)}
    )
    assert response.status_code == 200, response.text
    http.cookies.clear()  # each Browser sends its own cookie explicitly
    return Browser(response.cookies["salon_session"])


@contextlib.asynccontextmanager
async def session_socket(live: Live, browser: Browser, name: str) -> AsyncIterator[Peer]:
    """A socket opened the way a browser opens it: the session cookie and the server's own Origin."""
    ws = await websockets.connect(
        live.ws_url,
        origin=live.base_url,  # type: ignore[arg-type]
        additional_headers=browser.headers,
    )
    peer = Peer(ws, name)
    try:
        await peer.wait_for(lambda f: f["type"] == "hello")
        yield peer
    finally:
        await peer.close()


async def still_open(peer: Peer) -> bool:
    """The socket answers a ping: it is open and may act."""
    return bool((await peer.request("ping")).get("pong")) and peer.close_code is None


async def post_after_close(peer: Peer, db: Database, conversation: int) -> None:
    """A frame sent once the credential ended is refused: nothing is stored, no ack comes."""
    before = await counts(db)
    frame_id = next_id()
    with contextlib.suppress(websockets.ConnectionClosed):
        await peer.send(
            {"type": "post", "id": frame_id, "conversation": conversation, "topic": "t", "body": "late", "nonce": "n"}
        )
    await peer.wait_closed()
    assert not [f for f in peer.log if f.get("id") == frame_id]
    assert await counts(db) == before


# --- what ends a credential ------------------------------------------------------------------------


async def test_logout_closes_the_sockets_of_that_session_only(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    first, second = await login(http, cast.bob), await login(http, cast.bob)
    by_token = await connect(cast.bob, name="token")
    async with session_socket(live, first, "first") as a1, session_socket(live, first, "first again") as a2:
        async with session_socket(live, second, "second") as b:
            assert (await http.delete("/api/v1/session", headers=first.headers)).status_code == 204
            for peer in (a1, a2):
                assert await peer.wait_closed() == 4001 and peer.close_reason == "logged out"
            await post_after_close(a1, db, general)
            assert await still_open(b) and await still_open(by_token)


async def test_logging_in_with_an_old_cookie_closes_the_sockets_of_the_session_it_replaces(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    old, other = await login(http, cast.bob), await login(http, cast.bob)
    async with session_socket(live, old, "old") as stale, session_socket(live, other, "other") as kept:
        response = await http.post(
            "/api/v1/session",
            json={"username": "bob", "password": password_of("bob")},
            headers=old.headers,  # the browser still sends the old cookie: the login replaces that session
        )
        assert response.status_code == 200, response.text
        http.cookies.clear()
        assert await stale.wait_closed() == 4001 and stale.close_reason == "logged out"
        await post_after_close(stale, db, general)
        assert await still_open(kept)
        async with session_socket(live, Browser(response.cookies["salon_session"]), "new") as new:
            assert await still_open(new)


async def test_revoking_a_token_closes_the_sockets_opened_with_it(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    doomed, kept = await live.token(cast.bob), await live.token(cast.bob)
    headers = {"Authorization": f"Bearer {kept}"}
    listed = (await http.get("/api/v1/tokens", headers=headers)).json()["tokens"]
    doomed_id = next(t["id"] for t in listed if doomed.startswith(t["prefix"]) and not kept.startswith(t["prefix"]))
    connect.tokens[cast.bob.id] = doomed
    old = await connect(cast.bob, name="doomed")
    connect.tokens[cast.bob.id] = kept
    other = await connect(cast.bob, name="kept")
    assert (await http.delete(f"/api/v1/tokens/{doomed_id}", headers=headers)).status_code == 204
    assert await old.wait_closed() == 4001 and old.close_reason == "token revoked"
    await post_after_close(old, db, general)
    assert await still_open(other)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(live.ws_url, additional_headers={"Authorization": f"Bearer {doomed}"})
    assert refused.value.response.status_code == 401


async def test_a_password_change_closes_the_other_sessions_sockets(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    here, elsewhere = await login(http, cast.bob), await login(http, cast.bob)
    by_token = await connect(cast.bob, name="token")
    async with session_socket(live, here, "here") as mine, session_socket(live, elsewhere, "elsewhere") as other:
        response = await http.patch(
            "/api/v1/me",
            json={"password": "a-new-long-secret-pw", "current_password": password_of("bob")},
            headers=here.headers,
        )
        assert response.status_code == 200, response.text
        assert await other.wait_closed() == 4001 and other.close_reason == "password changed"
        await post_after_close(other, db, general)
        # the session that changed it, and tokens, keep working (as they do over REST)
        assert await still_open(mine) and await still_open(by_token)


async def test_deactivation_closes_every_socket_of_the_account(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    browser = await login(http, cast.bob)
    by_token = await connect(cast.bob, name="token")
    carol = await connect(cast.carol)
    admin = {"Authorization": f"Bearer {await live.token(cast.alice)}"}
    async with session_socket(live, browser, "session") as by_session:
        response = await http.patch(f"/api/v1/users/{cast.bob.id}", json={"active": False}, headers=admin)
        assert response.status_code == 200, response.text
        for peer in (by_session, by_token):
            assert await peer.wait_closed() == 4003 and peer.close_reason == "account deactivated"
        await post_after_close(by_token, db, general)
    assert await still_open(carol)
    with pytest.raises(InvalidStatus) as refused:
        await connect.raw(cast.bob)
    assert refused.value.response.status_code == 401


async def test_a_session_that_expires_closes_its_sockets(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient
) -> None:
    browser = await login(http, cast.bob)
    soon = models.utcnow() + timedelta(seconds=3)  # long enough to open the socket first
    async with db.transaction() as s:
        await s.execute(
            update(models.WebSession)
            .where(models.WebSession.id == session_id_of(browser.secret))
            .values(expires_at=soon)
        )
    async with session_socket(live, browser, "expiring") as peer:
        assert await peer.wait_closed() == 4001 and peer.close_reason == "session expired"


# --- a role change applies at once, the socket stays open -------------------------------------------


async def invite(db: Database, alice: Actor) -> None:
    async with db.transaction() as s:
        await create_invitation(s, alice, CreateInvitation(role="member"), mode="invite")


async def replayed(peer: Peer) -> list[dict[str, Any]]:
    """Every event a ``resume`` from the start replays to ``peer`` now."""
    start = len(peer.log)
    answer = await peer.request("resume", after=0)
    assert answer["type"] == "resumed"
    end = next(i for i, f in enumerate(peer.log) if f is answer)
    return peer.events(start, end)


async def test_a_demoted_moderator_stops_receiving_staff_events_and_acting_as_staff(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient, connect: Connector
) -> None:
    group = await channel(db, cast.alice, "barrier", kind="private", members=[cast.maya, cast.bob])
    barrier = Barrier(db, group, cast.alice)
    general = await channel(db, cast.alice, "general", members=[cast.maya, cast.bob])
    first = await post(db, cast.bob, general, body="one", topic="t")
    second = await post(db, cast.bob, general, body="two", topic="t")
    maya = await connect(cast.maya)
    assert (await maya.request("delete", message=first.id, reason="spam"))["type"] == "ack"  # as a moderator
    got = await barrier.observe([maya], lambda: invite(db, cast.alice))
    assert kinds(got["maya"]) == [("invitation.created", None)]
    assert ("invitation.created", None) in kinds(await replayed(maya))

    admin = {"Authorization": f"Bearer {await live.token(cast.alice)}"}
    response = await http.patch(f"/api/v1/users/{cast.maya.id}", json={"role": "member"}, headers=admin)
    assert response.status_code == 200, response.text
    changed = await maya.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "user.role_changed")
    assert changed["event"]["data"]["role"] == "member"

    got = await barrier.observe([maya], lambda: invite(db, cast.alice))
    assert kinds(got["maya"]) == []  # live delivery uses the role she has now
    assert ("invitation.created", None) not in kinds(await replayed(maya))  # and so does resume
    # the next frame acts with the new role: a member may not delete someone else's message
    refused = await maya.request("delete", message=second.id, reason="spam")
    assert refused["type"] == "error" and refused["code"] == "not_author"
    assert maya.close_code is None


async def test_a_member_demoted_to_guest_stops_seeing_the_directory(
    live: Live, db: Database, cast: Cast, http: httpx2.AsyncClient, connect: Connector
) -> None:
    group = await channel(db, cast.alice, "barrier", kind="private", members=[cast.bob, cast.carol])
    barrier = Barrier(db, group, cast.alice)
    bob, carol = await connect(cast.bob), await connect(cast.carol)

    async def newcomer(name: str) -> None:
        async with db.transaction() as s:
            await create_user(s, username=name, password=password_of(name))

    got = await barrier.observe([bob], lambda: newcomer("dora"))
    assert kinds(got["bob"]) == [("user.created", None)]

    admin = {"Authorization": f"Bearer {await live.token(cast.alice)}"}
    response = await http.patch(f"/api/v1/users/{cast.bob.id}", json={"role": "guest"}, headers=admin)
    assert response.status_code == 200, response.text
    await bob.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "user.role_changed")

    got = await barrier.observe([bob, carol], lambda: newcomer("emil"))
    assert kinds(got["bob"]) == [] and kinds(got["carol"]) == [("user.created", None)]
    # resume decides with the role he has now: of the directory, only his own account's event
    created = [e["data"]["user"]["username"] for e in await replayed(bob) if e["kind"] == "user.created"]
    assert created == ["bob"]
    assert bob.close_code is None

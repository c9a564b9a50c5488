"""Who receives what over the websocket: exactly the users who may see each event at that moment.

The cast is connected to a real server: alice (admin), maya (moderator), bob
and carol (members), gus (guest). ``general`` is a public channel of alice, bob
and carol (maya is not in it; guests never browse public channels). Every
assertion compares, per user, the events an action delivered; the barrier (see
``tests/web/socket_support.py``) proves the others got nothing, without
waiting for silence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from websockets.exceptions import InvalidStatus

from chat.accounts.commands import UpdateUser
from chat.accounts.users import update_user
from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation, join_conversation, remove_member
from chat.channels.message_commands import UpdateTopic
from chat.channels.topics import update_topic
from chat.domain.actors import Actor
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.socket_support import Barrier, Connector, Frame, Peer, connector, kinds

EVERYONE = ("alice", "maya", "bob", "carol", "gus")


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


@dataclass
class Room:
    db: Database
    cast: Cast
    general: int
    barrier: Barrier
    peers: dict[str, Peer]

    async def observe(self, action: object) -> dict[str, list[tuple[str, int | None]]]:
        got = await self.barrier.observe(self.peers.values(), action)  # type: ignore[arg-type]
        return {name: kinds(events) for name, events in got.items()}

    def expect(self, event: tuple[str, int | None], *names: str) -> dict[str, list[tuple[str, int | None]]]:
        """``event`` for each of ``names``, nothing for the other connected users."""
        return {name: [event] if name in names else [] for name in self.peers}

    def actor(self, name: str) -> Actor:
        actor: Actor = getattr(self.cast, name)
        return actor


@pytest.fixture
async def room(db: Database, cast: Cast, connect: Connector) -> Room:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    everyone = await channel(
        db, cast.alice, "everyone", kind="private", members=[cast.maya, cast.bob, cast.carol, cast.gus]
    )
    peers = {name: await connect(getattr(cast, name)) for name in EVERYONE}
    return Room(db, cast, general, Barrier(db, everyone, cast.alice), peers)


async def test_a_post_in_a_public_channel_reaches_its_members_only(room: Room) -> None:
    got = await room.observe(lambda: post(room.db, room.cast.bob, room.general, body="hello"))
    assert got == room.expect(("message.posted", room.general), "alice", "bob", "carol")
    # the event is the one the poster's ack describes, byte for byte the same for everyone
    frames = [room.peers[n].events()[-2] for n in ("alice", "bob", "carol")]  # last before the barrier
    assert frames[0] == frames[1] == frames[2]
    assert frames[0]["data"]["body"] == "hello" and set(frames[0]) == {
        "id",
        "conversation",
        "seq",
        "kind",
        "actor",
        "data",
        "created_at",
    }


async def test_a_post_over_the_socket_is_acked_to_the_poster_and_sent_to_members(room: Room) -> None:
    bob = room.peers["bob"]

    async def send() -> None:
        ack = await bob.request("post", conversation=room.general, topic="Q3", body="*hi*", nonce="n1")
        assert ack["type"] == "ack" and ack["created"] is True and ack["message"]["author"] == room.cast.bob.id

    got = await room.observe(send)
    assert got == room.expect(("message.posted", room.general), "alice", "bob", "carol")


async def test_joining_starts_delivery_without_reconnecting(room: Room) -> None:
    got = await room.observe(lambda: _join(room, "maya"))
    assert got == room.expect(("member.joined", room.general), "alice", "maya", "bob", "carol")
    got = await room.observe(lambda: post(room.db, room.cast.carol, room.general))
    assert got == room.expect(("message.posted", room.general), "alice", "maya", "bob", "carol")


async def _join(room: Room, name: str) -> None:
    async with room.db.transaction() as s:
        await join_conversation(s, room.actor(name), room.general)


async def test_a_new_public_channel_is_announced_to_everyone_but_guests(room: Room) -> None:
    created: list[int] = []

    async def create() -> None:
        async with room.db.transaction() as s:
            created.append(
                (await create_conversation(s, room.cast.maya, CreateConversation(kind="public", name="news"))).id
            )

    got = await room.observe(create)
    assert got == room.expect(("conversation.created", created[0]), "alice", "maya", "bob", "carol")


async def test_edit_delete_and_reactions_reach_the_members(room: Room) -> None:
    message = await post(room.db, room.cast.bob, room.general, body="first")
    bob, carol = room.peers["bob"], room.peers["carol"]
    members = ("alice", "bob", "carol")

    async def frame(peer: Peer, type_: str, **fields: object) -> Frame:
        reply = await peer.request(type_, message=message.id, **fields)
        assert reply["type"] == "ack", reply
        return reply

    got = await room.observe(lambda: frame(bob, "edit", body="second"))
    assert got == room.expect(("message.edited", room.general), *members)
    got = await room.observe(lambda: frame(carol, "react", emoji="👍"))
    assert got == room.expect(("reaction.added", room.general), *members)
    got = await room.observe(lambda: frame(carol, "unreact", emoji="👍"))
    assert got == room.expect(("reaction.removed", room.general), *members)
    got = await room.observe(lambda: frame(bob, "delete", reason="typo"))
    assert got == room.expect(("message.deleted", room.general), *members)


async def test_a_topic_moved_into_a_private_group_stops_reaching_the_public_members(room: Room) -> None:
    db, cast = room.db, room.cast
    secret = await channel(db, cast.alice, "secret", kind="private", members=[cast.carol])
    message = await post(db, cast.alice, room.general, body="the plan", topic="Q3")
    bystander = await post(db, cast.bob, room.general, body="stays public", topic="lunch")

    async def move() -> None:
        async with db.transaction() as s:
            await update_topic(s, cast.alice, room.general, UpdateTopic(topic="Q3", move_to_conversation=secret))

    got = await room.observe(move)
    both = [("topic.moved", room.general), ("topic.moved", secret)]
    assert got == {
        "alice": both,
        "carol": both,
        "bob": [("topic.moved", room.general)],  # told that messages left, and nothing more
        "maya": [],
        "gus": [],
    }
    edit = await room.observe(lambda: room.peers["alice"].request("edit", message=message.id, body="the real plan"))
    assert edit == room.expect(("message.edited", secret), "alice", "carol")
    react = await room.observe(lambda: room.peers["carol"].request("react", message=message.id, emoji="🎉"))
    assert react == room.expect(("reaction.added", secret), "alice", "carol")
    # bob can no longer touch the moved message, and still reaches what stayed behind
    refused = await room.peers["bob"].request("react", message=message.id, emoji="🎉")
    assert refused["type"] == "error" and refused["code"] == "message_not_found"
    still = await room.observe(lambda: room.peers["bob"].request("react", message=bystander.id, emoji="🎉"))
    assert still == room.expect(("reaction.added", room.general), "alice", "bob", "carol")


async def test_a_removed_member_gets_their_removal_and_nothing_after(room: Room) -> None:
    db, cast = room.db, room.cast
    secret = await channel(db, cast.alice, "secret", kind="private", members=[cast.bob, cast.carol])

    async def remove() -> None:
        async with db.transaction() as s:
            await remove_member(s, cast.alice, secret, cast.bob.id)

    got = await room.observe(remove)
    assert got == room.expect(("member.removed", secret), "alice", "bob", "carol")
    removal = room.peers["bob"].events()[-2]  # the last event before the barrier
    assert removal["data"] == {"user": cast.bob.id}
    got = await room.observe(lambda: post(db, cast.carol, secret, body="after bob left"))
    assert got == room.expect(("message.posted", secret), "alice", "carol")
    refused = await room.peers["bob"].request("post", conversation=secret, topic="t", body="let me in", nonce="x")
    assert refused["type"] == "error" and refused["code"] == "conversation_not_found"


async def test_a_deactivated_user_is_disconnected_and_cannot_reconnect(room: Room, connect: Connector) -> None:
    db, cast = room.db, room.cast
    bob, second_tab = room.peers["bob"], await connect(cast.bob, name="bob's second tab")

    async def deactivate() -> None:
        async with db.transaction() as s:
            await update_user(s, cast.alice, cast.bob.id, UpdateUser(active=False))

    seen = await room.barrier.observe([*room.peers.values(), second_tab], deactivate)
    got = {name: kinds(events) for name, events in seen.items()}
    notice = [("user.deactivated", None)]
    assert got["alice"] == got["maya"] == got["carol"] == notice
    assert got["gus"] == []  # account events for "everyone" are not for guests
    for tab in (bob, second_tab):
        assert await tab.wait_closed() == 4003
        assert got[tab.name] in ([], notice)  # the close may overtake the notice; nothing else, ever
    with pytest.raises(InvalidStatus) as refused:
        await connect.raw(cast.bob)  # the token that worked a moment ago
    assert refused.value.response.status_code == 401
    got = await room.observe(lambda: post(db, cast.carol, room.general, body="after bob left"))
    assert got == room.expect(("message.posted", room.general), "alice", "carol")

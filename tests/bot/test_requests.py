"""The bot client's requests, events and heartbeat against the app served by uvicorn in the test's loop.

The server's heartbeat is 1 s here, so the client's optional ``ping`` frames go
out (and are answered) during every test that lasts more than a second.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chat.accounts.commands import UpdateUser
from chat.accounts.users import update_user
from chat.bot import Bot, BotError, Event
from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation, join_conversation
from chat.config import Settings
from chat.store.db import Database
from tests.conftest import Live
from tests.factories import Cast


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, heartbeat_s=1)


async def channel(db: Database, cast: Cast, *members: str) -> int:
    async with db.transaction() as s:
        info = await create_conversation(s, cast.alice, CreateConversation(kind="public", name="general"))
        for name in members:
            await join_conversation(s, getattr(cast, name), info.id)
    return info.id


async def bot_for(live: Live, cast: Cast, name: str) -> Bot:
    return Bot(live.base_url, await live.token(getattr(cast, name)), backoff_initial_s=0.05, backoff_max_s=0.5)


async def history(bot: Bot, conversation: int) -> list[dict[str, Any]]:
    page = await bot.api("GET", f"/conversations/{conversation}/messages?limit=200")
    messages: list[dict[str, Any]] = page["messages"]
    return messages


async def test_post_is_acked_with_the_message_and_a_same_nonce_stores_one(live: Live, db: Database, cast: Cast) -> None:
    conv = await channel(db, cast, "robot")
    async with await bot_for(live, cast, "robot") as robot:
        assert robot.user["username"] == "robot" and robot.user["is_bot"] is True
        first = await robot.post(conv, "hello *there*", topic="greetings", nonce="n-1")
        again = await robot.post(conv, "hello *there*", topic="greetings", nonce="n-1")
        assert first["id"] == again["id"] and first["topic"] == "greetings"
        assert first["html"].strip() == "<p>hello <em>there</em></p>"
        assert [m["id"] for m in await history(robot, conv)] == [first["id"]]


async def test_an_error_frame_raises_bot_error_and_stores_nothing(live: Live, db: Database, cast: Cast) -> None:
    conv = await channel(db, cast, "robot")
    async with await bot_for(live, cast, "robot") as robot:
        with pytest.raises(BotError) as missing:
            await robot.post(999_999, "anyone?", topic="t")
        assert missing.value.code == "conversation_not_found"
        stored = await robot.post(conv, "first", topic="t", nonce="same")
        with pytest.raises(BotError) as reused:
            await robot.post(conv, "a different text", topic="t", nonce="same")
        assert reused.value.code == "nonce_reused" and reused.value.data["message_id"] == stored["id"]
        with pytest.raises(BotError) as too_large:
            await robot.post(conv, "x" * 70_000, topic="t")
        assert too_large.value.code == "frame_too_large"
        assert [m["body"] for m in await history(robot, conv)] == ["first"]


async def test_presence_reaches_a_handler_one_user_at_a_time(live: Live, db: Database, cast: Cast) -> None:
    await channel(db, cast, "robot", "bob", "carol")
    seen: list[tuple[int, str]] = []
    told = asyncio.Event()
    async with await bot_for(live, cast, "bob") as bob:

        @bob.on("presence")
        async def on_presence(frame: Event) -> None:
            seen.append((frame["user"], frame["status"]))
            if {cast.robot.id, cast.carol.id} <= {user for user, _ in seen}:
                told.set()

        runner = asyncio.create_task(bob.run())
        async with await bot_for(live, cast, "robot"), await bot_for(live, cast, "carol"):
            # both come online within the presence interval: one frame, two handler calls
            await asyncio.wait_for(told.wait(), 10)
        await bob.close()
        await runner
    assert {(cast.robot.id, "online"), (cast.carol.id, "online")} <= set(seen)


async def test_a_bad_token_is_refused_when_connecting(live: Live) -> None:
    with pytest.raises(BotError) as refused:
        await Bot(live.base_url, "salon_not_a_token").start()
    assert refused.value.code == "not_authenticated"


async def test_events_reach_the_iterator_and_the_decorated_handlers_once(live: Live, db: Database, cast: Cast) -> None:
    conv = await channel(db, cast, "robot", "bob")
    async with await bot_for(live, cast, "bob") as bob, await bot_for(live, cast, "robot") as robot:
        seen: list[tuple[str, Any]] = []
        done = asyncio.Event()

        @bob.on("message.*")
        async def on_message(event: Event) -> None:
            seen.append((event["kind"], event["id"]))

        @bob.on("reaction.added")
        async def on_reaction(event: Event) -> None:
            seen.append(("reaction", event["data"]["emoji"]))
            done.set()

        @bob.on("typing")
        async def on_typing(frame: Event) -> None:
            seen.append(("typing", frame["user"]))

        @bob.on_event
        async def on_any(event: Event) -> None:
            seen.append(("any", event["kind"]))

        runner = asyncio.create_task(bob.run())
        posted = await robot.post(conv, "version 1", topic="t")
        await robot.typing(conv, topic="t")
        edited = await robot.edit(posted["id"], "version 2")
        assert edited["body"] == "version 2"
        reaction = await robot.react(posted["id"], ":tada:")
        assert reaction["emoji"] == ":tada:"
        await asyncio.wait_for(done.wait(), 10)
        await bob.close()
        await runner
    delivered = [entry for entry in seen if entry[0] != "typing"]
    assert [what for what, _ in delivered] == ["message.posted", "any", "message.edited", "any", "reaction", "any"]
    assert delivered[0][1] == posted["event_id"] and delivered[4][1] == ":tada:"
    assert [kind for what, kind in delivered if what == "any"] == ["message.posted", "message.edited", "reaction.added"]
    assert ("typing", cast.robot.id) in seen


async def test_the_iterator_yields_each_event_once_in_order(live: Live, db: Database, cast: Cast) -> None:
    conv = await channel(db, cast, "robot", "bob")
    async with await bot_for(live, cast, "bob") as bob, await bot_for(live, cast, "robot") as robot:
        sent = [await robot.post(conv, f"m{i}", topic="t") for i in range(5)]
        got: list[int] = []
        async for event in bob.events():
            if event["kind"] == "message.posted":
                got.append(event["data"]["message"]["id"])
            if len(got) == len(sent):
                break
    assert got == [m["id"] for m in sent]


async def test_pings_keep_an_idle_bot_connected(live: Live, cast: Cast) -> None:
    async with await bot_for(live, cast, "robot") as robot:
        await asyncio.sleep(3.5)  # the server closes sockets silent for 2 s
        assert robot.connected and robot.reconnects == 0


async def test_a_deactivated_bot_stops_with_a_bot_error(live: Live, db: Database, cast: Cast) -> None:
    async with await bot_for(live, cast, "robot") as robot:
        runner = asyncio.create_task(robot.run())
        async with db.transaction() as s:
            await update_user(s, cast.alice, cast.robot.id, UpdateUser(active=False))
        with pytest.raises(BotError) as stopped:
            await asyncio.wait_for(runner, 10)
        assert stopped.value.code == "deactivated"
        with pytest.raises(BotError):
            await robot.post(1, "still there?", topic="t")

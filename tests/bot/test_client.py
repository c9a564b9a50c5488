"""The bot client and the example mention bot against a real ``chat serve`` subprocess.

The bot is created with ``chat create-bot`` (the operator's way) and added to a
channel by alice. It answers mentions in the topic where it was mentioned;
after a ``kill -9`` of the server it reconnects, resumes from its cursor and
answers what it missed exactly once; a restarted bot resumes from its cursor
file; a post whose ack was lost is retried with its nonce and stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chat.bot import Bot, FileCursorStore
from tests.bot.support import Proxy, Watcher, poll
from tests.integration.server import LOAD_TEST_ENV, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mention_bot.py"
_bots = itertools.count(1)  # a fresh bot (and channel) per test


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mention_bot", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class World:
    srv: ServerProcess
    alice_id: int
    alice_token: str
    channel: int
    bot_id: int
    bot_name: str
    bot_token: str

    def history(self) -> list[dict[str, Any]]:
        r = self.srv.api("GET", f"/conversations/{self.channel}/messages", self.alice_token, params={"limit": 200})
        assert r.status_code == 200, r.text
        messages: list[dict[str, Any]] = r.json()["messages"]
        return messages

    def replies(self) -> list[str]:
        return [m["body"] for m in self.history() if m["author"] == self.bot_id]


def create_bot(srv: ServerProcess, name: str, owner: str) -> tuple[int, str]:
    """``chat create-bot NAME --owner OWNER``: (bot id, token)."""
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "chat.cli", "create-bot", name, "--owner", owner, "--data-dir", str(srv.data_dir)],
        env=srv.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = re.search(r"\(id (\d+)\)", done.stderr)
    assert found, done.stderr
    return int(found.group(1)), done.stdout.strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int, str]]:
    """One server for this module (a test may kill -9 and restart it): (server, alice's id, her token)."""
    srv = ServerProcess(tmp_path_factory.mktemp("bot") / "data", env=LOAD_TEST_ENV)
    srv.start()
    try:
        yield srv, *srv.user_with_token("alice")
    finally:
        srv.stop()


@pytest.fixture
def world(server: tuple[ServerProcess, int, str]) -> World:
    """A fresh channel of alice's and a fresh bot (``chat create-bot``) that she added to it."""
    srv, alice_id, alice_token = server
    name = f"echo{next(_bots)}"
    r = srv.api("POST", "/conversations", alice_token, json={"kind": "public", "name": f"room of {name}"})
    assert r.status_code == 201, r.text
    channel = int(r.json()["id"])
    bot_id, bot_token = create_bot(srv, name, "alice")
    r = srv.api("POST", f"/conversations/{channel}/members", alice_token, json={"user_id": bot_id})
    assert r.status_code in (200, 201), r.text
    return World(srv, alice_id, alice_token, channel, bot_id, name, bot_token)


@pytest.fixture
async def alice(world: World) -> AsyncIterator[Watcher]:
    async with Watcher(world.srv.base_url, world.alice_token) as watcher:
        yield watcher


def reply_to(world: World, said: str) -> Any:
    expected = f"Hello @alice, you said: {said}"
    return lambda m: m["author"] == world.bot_id and m["body"] == expected


@contextlib.asynccontextmanager
async def running_mention_bot(url: str, token: str, cursor_file: Path) -> AsyncIterator[Bot]:
    """The example's MentionBot, in this process, with a cursor file."""
    bot = Bot(url, token, cursor_store=FileCursorStore(cursor_file), backoff_initial_s=0.05, backoff_max_s=0.5)
    load_example().MentionBot(bot)
    await bot.start()
    task = asyncio.create_task(bot.run())
    try:
        yield bot
    finally:
        await bot.close()
        await task


async def test_the_bot_answers_in_the_topic_where_it_is_mentioned(world: World, alice: Watcher, tmp_path: Path) -> None:
    async with running_mention_bot(world.srv.base_url, world.bot_token, tmp_path / "bot.cursor") as bot:
        assert bot.user["id"] == world.bot_id and bot.user["is_bot"] is True
        await alice.bot.post(world.channel, "nobody is mentioned here", topic="chatter")
        await alice.bot.post(world.channel, f"@{world.bot_name} what's up?", topic="Q3 tender")
        await alice.bot.post(world.channel, f"and in another topic, @{world.bot_name}", topic="Ops")
        first = await alice.wait_for(reply_to(world, "what's up?"))
        second = await alice.wait_for(reply_to(world, "and in another topic,"))
    assert first["topic"] == "Q3 tender" and second["topic"] == "Ops"
    assert first["mentions"] == [world.alice_id]
    # handled in order: a reply to the first message would have come before the others
    assert len(world.replies()) == 2


async def test_after_kill9_the_bot_resumes_and_answers_each_mention_once(
    world: World, alice: Watcher, tmp_path: Path
) -> None:
    proxy = Proxy(world.srv.port)
    await proxy.start()
    cursor_file = tmp_path / "bot.cursor"
    try:
        async with running_mention_bot(proxy.url, world.bot_token, cursor_file) as bot:
            await alice.bot.post(world.channel, f"@{world.bot_name} before", topic="t")
            await alice.wait_for(reply_to(world, "before"))
            cursor_before = FileCursorStore(cursor_file).load()
            assert cursor_before is not None

            proxy.refuse = True  # the bot stays away until we let it back
            world.srv.kill9()
            await asyncio.to_thread(world.srv.start)
            mention = await alice.bot.post(world.channel, f"@{world.bot_name} while you were away", topic="t")
            assert not bot.connected
            proxy.refuse = False
            await alice.wait_for(reply_to(world, "while you were away"))
            after = await alice.bot.post(world.channel, f"@{world.bot_name} after", topic="t")
            await alice.wait_for(reply_to(world, "after"))
            assert bot.reconnects >= 1
    finally:
        await proxy.close()
    assert sorted(world.replies()) == sorted(
        f"Hello @alice, you said: {said}" for said in ("before", "while you were away", "after")
    )
    cursor_after = FileCursorStore(cursor_file).load()
    assert cursor_after is not None and cursor_after > cursor_before
    assert cursor_after >= after["event_id"] > mention["event_id"]


async def test_a_post_whose_ack_was_lost_is_retried_with_its_nonce_and_stored_once(world: World) -> None:
    proxy = Proxy(world.srv.port)
    await proxy.start()
    try:
        async with Bot(proxy.url, world.bot_token, backoff_initial_s=0.05, backoff_max_s=0.5) as bot:
            proxy.swallow = True  # the server stores the post, its ack never arrives
            pending = asyncio.create_task(bot.post(world.channel, "one and only", topic="t"))

            async def is_stored() -> bool:
                return any(m["body"] == "one and only" for m in await asyncio.to_thread(world.history))

            await poll(is_stored, "the server to store the post")
            assert not pending.done()
            proxy.swallow = False
            proxy.cut()  # the connection drops; the bot reconnects and sends the post again
            message = await asyncio.wait_for(pending, 30)
            assert bot.reconnects >= 1
    finally:
        await proxy.close()
    stored = [m for m in world.history() if m["body"] == "one and only"]
    assert [m["id"] for m in stored] == [message["id"]]


async def test_the_example_script_resumes_from_its_cursor_file_after_a_restart(
    world: World, alice: Watcher, tmp_path: Path
) -> None:
    cursor_file = tmp_path / "script.cursor"
    argv = [sys.executable, str(EXAMPLE), "--url", world.srv.base_url, "--token", world.bot_token]
    argv += ["--cursor-file", str(cursor_file)]

    async def cursor_exists() -> bool:
        return cursor_file.exists()  # written on the first hello

    async def run_script_until(said: str) -> None:
        log = (tmp_path / "bot.log").open("ab")
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
        try:
            await poll(cursor_exists, "the bot's first hello")  # from then on it misses nothing
            await alice.bot.post(world.channel, f"@{world.bot_name} {said}", topic="script")
            await alice.wait_for(reply_to(world, said))
        finally:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 30)
            log.close()
        assert code == 0, (tmp_path / "bot.log").read_text()

    await run_script_until("first run")
    first_cursor = FileCursorStore(cursor_file).load()
    missed = await alice.bot.post(world.channel, f"@{world.bot_name} while the bot was stopped", topic="script")
    await run_script_until("second run")
    await alice.wait_for(reply_to(world, "while the bot was stopped"))
    assert sorted(world.replies()) == sorted(
        f"Hello @alice, you said: {s}" for s in ("first run", "while the bot was stopped", "second run")
    )
    last_cursor = FileCursorStore(cursor_file).load()
    assert first_cursor is not None and last_cursor is not None
    assert first_cursor < missed["event_id"] <= last_cursor

"""A benchmark workload built through the real actions: a cast, a channel, realistic bodies, posters.

Set ``CHAT_ARGON2_PROFILE=fast`` before importing this module (it imports ``chat``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import fresh_schema, sqlite_url, stopwatch
from chat.accounts.users import actor_of, create_user
from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation, join_conversation
from chat.channels.message_commands import PostMessage
from chat.channels.messages import post_message
from chat.domain.actors import Actor
from chat.store.db import Database

_WORDS = (
    "the tender for Q3 needs a second review before we send it to the client and legal wants the "
    "final figures by Friday please check the spreadsheet and the draft contract I moved the meeting "
    "to Thursday afternoon because the supplier asked for more time on delivery dates budget invoice"
).split()
_LINKS = ("https://example.com/docs/q3", "https://intranet.example.org/wiki/Tender", "mailto:legal@example.com")


# --- content -------------------------------------------------------------------------------


class Bodies:
    """Deterministic, varied markdown bodies: plain text, emphasis, code, links, lists, mentions."""

    def __init__(self, seed: int, usernames: Sequence[str]) -> None:
        self.rng = random.Random(seed)
        self.usernames = list(usernames)

    def __call__(self) -> str:
        rng = self.rng
        words = rng.choices(_WORDS, k=rng.randint(4, 60))
        text = " ".join(words).capitalize() + "."
        roll = rng.random()
        if roll < 0.15:
            text += f" See [the notes]({rng.choice(_LINKS)})."
        elif roll < 0.25:
            text += f" @{rng.choice(self.usernames)} can you have a look?"
        elif roll < 0.32:
            text = f"{text}\n\n```\nstatus = check({rng.randint(1, 999)})\n```"
        elif roll < 0.40:
            text = f"{text}\n\n- **first** item\n- second item with `code`\n- third"
        elif roll < 0.45:
            text = f"_{text}_"
        return text


# --- setup through the real actions ----------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    owner: Actor
    posters: list[Actor]
    outsider: Actor  # a member of the server who never joins the channel
    conversation_id: int


async def make_cast(db: Database, posters: int) -> Cast:
    """An admin who creates the public channel ``bench``, ``posters`` members who join it, and an outsider."""
    async with db.transaction() as session:
        owner = actor_of(await create_user(session, username="owner", password="bench-password", role="admin"))
    members: list[Actor] = []
    for name in [f"poster{i}" for i in range(posters)] + ["outsider"]:
        async with db.transaction() as session:
            user = await create_user(session, username=name, password="bench-password", role="member")
            members.append(actor_of(user))
    outsider = members.pop()
    async with db.transaction() as session:
        info = await create_conversation(session, owner, CreateConversation(kind="public", name="bench"))
    for actor in members:
        async with db.transaction() as session:
            await join_conversation(session, actor, info.id)
    return Cast(owner, members, outsider, info.id)


async def open_database(backend: str, workdir: Path, name: str, pg_url: str) -> Database:
    url = sqlite_url(workdir, f"{name}.db") if backend == "sqlite" else pg_url
    await fresh_schema(url)
    return Database(url)


# --- posting ----------------------------------------------------------------------------------


async def post_many(
    db: Database, cast: Cast, total: int, concurrency: int, *, topics: Sequence[str], seed: int, tag: str
) -> tuple[float, list[float]]:
    """``total`` posts, one transaction each, from ``concurrency`` posters; (wall seconds, per-post seconds)."""
    latencies: list[float] = []
    share = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    loop = asyncio.get_running_loop()

    async def poster(index: int, count: int) -> None:
        actor = cast.posters[index]
        bodies = Bodies(seed + index, [p.username for p in cast.posters])
        rng = random.Random(seed * 31 + index)
        for i in range(count):
            cmd = PostMessage(body=bodies(), nonce=f"{tag}-{index}-{i}", topic=rng.choice(topics))
            start = loop.time()
            async with db.transaction() as session:
                await post_message(session, actor, cast.conversation_id, cmd)
            latencies.append(loop.time() - start)

    with stopwatch() as wall:
        await asyncio.gather(*(poster(i, n) for i, n in enumerate(share)))
    return wall[0], latencies

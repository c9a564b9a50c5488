"""Benchmark: posting messages, and paging through a long topic, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.messages [--backend sqlite|postgresql|both] [--messages 10000] [--history 100000]

1. **Posting.** ``--messages`` posts through the domain action
   ``chat.channels.messages.post_message``, one ``db.transaction()`` per message
   (exactly what the server does per post), from 1 and from 4 concurrent posters
   (``--concurrency``), each a different member, into a fresh database. Reports
   messages/s committed and the per-post latency each poster saw (including the
   wait for the write lock).
2. **History.** Builds a conversation whose topic ``archive`` holds ``--history``
   messages, interleaved with 10 % as many in other topics, by posting through the
   same action, ``--batch`` posts per transaction (realistic rows: rendered HTML,
   revisions, ``message.posted`` events with a correct hash chain). Then pages
   through the topic with ``chat.channels.history.list_messages`` (what
   ``GET /api/v1/conversations/{id}/messages?topic=&before=&limit=50`` calls),
   newest page first, then ``before=`` the oldest id of each page down to the
   first message. Each page is timed as the API serves it minus HTTP: a read
   session, the query, and the JSON encoding (``to_json`` + ``json.dumps``).
   Also times ``chat.channels.feed.events_since`` pages (``GET /api/v1/events?after=``)
   at random cursors, and 1,000 more posts into the full topic.

No realtime hub is attached (``after_commit=None``): this measures the domain
actions and the database, not fan-out (see ``bench/fanout``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

os.environ.setdefault("CHAT_ARGON2_PROFILE", "fast")  # hashing is not what is measured; before chat imports

from bench.bulk import load_posts
from bench.common import (
    BACKENDS,
    DEFAULT_PG_URL,
    Latency,
    analyze,
    fresh_schema,
    machine_info,
    machine_table,
    markdown_table,
    postgres_version,
    sqlite_url,
    stopwatch,
)
from chat.accounts.users import actor_of, create_user
from chat.archive.audit import verify_log
from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation, join_conversation
from chat.channels.feed import events_since, latest_event_id
from chat.channels.history import list_messages
from chat.channels.message_commands import PostMessage
from chat.channels.messages import post_message
from chat.channels.policy import Actor
from chat.channels.render import MentionTarget
from chat.store import models
from chat.store.db import Database
from chat.web.schema import to_json

HISTORY_TOPIC = "archive"
OTHER_TOPICS = [f"topic {i}" for i in range(20)]
PAGE_SIZE = 50

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
    conversation_id: int


async def make_cast(db: Database, posters: int) -> Cast:
    """An admin who creates the public channel ``bench`` and ``posters`` members who join it."""
    async with db.transaction() as session:
        owner = actor_of(await create_user(session, username="owner", password="bench-password", role="admin"))
    members: list[Actor] = []
    for i in range(posters):
        async with db.transaction() as session:
            user = await create_user(session, username=f"poster{i}", password="bench-password", role="member")
            members.append(actor_of(user))
    async with db.transaction() as session:
        info = await create_conversation(session, owner, CreateConversation(kind="public", name="bench"))
    for actor in members:
        async with db.transaction() as session:
            await join_conversation(session, actor, info.id)
    return Cast(owner, members, info.id)


async def open_database(backend: str, workdir: Path, name: str, pg_url: str) -> Database:
    url = sqlite_url(workdir, f"{name}.db") if backend == "sqlite" else pg_url
    await fresh_schema(url)
    return Database(url)


# --- 1. posting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostResult:
    backend: str
    concurrency: int
    messages: int
    seconds: float
    cpu_seconds: float  # this process (asyncio loop + the aiosqlite thread), not the PostgreSQL server
    latency: Latency

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds * 1000 / self.messages


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


async def bench_posting(backend: str, workdir: Path, pg_url: str, total: int, concurrency: int) -> PostResult:
    db = await open_database(backend, workdir, f"post-{concurrency}", pg_url)
    try:
        cast = await make_cast(db, max(concurrency, 4))
        cpu = time.process_time()
        seconds, latencies = await post_many(
            db, cast, total, concurrency, topics=OTHER_TOPICS, seed=concurrency, tag="p"
        )
        cpu = time.process_time() - cpu
        return PostResult(backend, concurrency, total, seconds, cpu, Latency.of(latencies))
    finally:
        await db.dispose()


# --- 2. history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryResult:
    backend: str
    messages: int  # in the paged topic
    build_seconds: float
    pages: int
    paged: int  # messages seen while paging
    query: Latency  # read session + list_messages
    page: Latency  # … + JSON encoding
    events: Latency  # events_since pages of 100
    tail_rate: float  # posts/s into the full topic
    tail_latency: Latency


async def build_with_action(db: Database, cast: Cast, plan: Sequence[tuple[int, str, str]], batch: int) -> None:
    """Post ``plan`` through ``post_message``, ``batch`` posts per transaction (slow: for checking the bulk load)."""
    actors = {a.id: a for a in cast.posters}
    for start in range(0, len(plan), batch):
        async with db.transaction() as session:
            for i, (author, topic, body) in enumerate(plan[start : start + batch], start=start):
                cmd = PostMessage(body=body, nonce=f"h-{i}", topic=topic)
                await post_message(session, actors[author], cast.conversation_id, cmd)


def history_plan(cast: Cast, total: int) -> list[tuple[int, str, str]]:
    """(author, topic, body) for ``total`` posts in ``HISTORY_TOPIC`` and 10 % as many in other topics, shuffled.

    Bodies come from a pool of 2,000 (rendering each of 110,000 bodies would dominate the load).
    """
    rng = random.Random(7)
    bodies = Bodies(7, [p.username for p in cast.posters])
    pool = [bodies() for _ in range(2000)]
    topics = [HISTORY_TOPIC] * total + [rng.choice(OTHER_TOPICS) for _ in range(total // 10)]
    rng.shuffle(topics)
    return [(cast.posters[i % len(cast.posters)].id, t, rng.choice(pool)) for i, t in enumerate(topics)]


async def build_history(db: Database, cast: Cast, total: int, *, build: str, batch: int) -> str:
    """Fill the conversation; returns a line saying how the rows were checked."""
    first = Bodies(3, [p.username for p in cast.posters])
    async with db.transaction() as session:  # the reference: one post per topic through the action
        for topic in [HISTORY_TOPIC, *OTHER_TOPICS]:
            await post_message(
                session, cast.posters[0], cast.conversation_id, PostMessage(first(), f"ref-{topic}", topic)
            )
    plan = history_plan(cast, total)
    if build == "action":
        await build_with_action(db, cast, plan, batch)
    else:
        mentionable = {a.username: MentionTarget(a.id, a.username, a.display_name) for a in cast.posters}
        async with db.transaction() as session:
            await load_posts(session, cast.conversation_id, plan, mentionable)
    return await check_history(db, cast.conversation_id)


async def check_history(db: Database, conversation_id: int) -> str:
    """The chain verifies, and a loaded ``message.posted`` event has the shape of one the action wrote."""
    with stopwatch() as took:
        async with db.read() as session:
            report = await verify_log(session, conversation_id)
            ev = models.Event
            posted = select(ev).where(ev.conversation_id == conversation_id, ev.kind == "message.posted")
            reference = (await session.scalars(posted.order_by(ev.id).limit(1))).one()
            loaded = (await session.scalars(posted.order_by(ev.id.desc()).limit(1))).one()
    if not report.ok:
        raise SystemExit(f"the loaded history does not verify: {report.first_problem}")

    def shape(row: models.Event) -> tuple[object, ...]:
        body = json.loads(row.body or "{}")
        return (sorted(row.payload), sorted(row.payload["message"]), sorted(body), row.audience)

    if shape(reference) != shape(loaded):
        raise SystemExit(f"loaded events differ from the action's: {shape(reference)} != {shape(loaded)}")
    return f"chain c{conversation_id} verified: {report.events:,} events ({took[0]:.0f} s); event shape as the action's"


async def page_history(db: Database, actor: Actor, conversation_id: int) -> tuple[int, int, list[float], list[float]]:
    """Newest page, then ``before=`` anchors to the start: (pages, messages, query seconds, page seconds)."""
    loop = asyncio.get_running_loop()
    queries: list[float] = []
    pages: list[float] = []
    before: int | None = None
    seen = 0
    while True:
        start = loop.time()
        async with db.read() as session:
            page = await list_messages(
                session, actor, conversation_id, topic=HISTORY_TOPIC, before=before, limit=PAGE_SIZE
            )
        queried = loop.time()
        json.dumps(to_json(page))
        pages.append(loop.time() - start)
        queries.append(queried - start)
        seen += len(page.messages)
        if not page.has_more_before or not page.messages:
            return len(pages), seen, queries, pages
        before = page.messages[0].id


async def sample_events(db: Database, actor: Actor, samples: int, limit: int = 100) -> list[float]:
    """``events_since`` at random cursors (each a full page of ``limit`` events)."""
    async with db.read() as session:
        horizon = await latest_event_id(session)
    rng = random.Random(11)
    loop = asyncio.get_running_loop()
    times: list[float] = []
    for _ in range(samples):
        after = rng.randint(0, max(0, horizon - limit))
        start = loop.time()
        async with db.read() as session:
            page = await events_since(session, actor, after, limit)
        json.dumps([e.public() for e in page.events])
        times.append(loop.time() - start)
    return times


async def bench_history(
    backend: str, workdir: Path, pg_url: str, total: int, *, build: str, batch: int, tail: int, do_analyze: bool
) -> HistoryResult:
    db = await open_database(backend, workdir, "history", pg_url)
    try:
        cast = await make_cast(db, 4)
        with stopwatch() as built:
            checked = await build_history(db, cast, total, build=build, batch=batch)
        print(f"history {backend}: {checked}", flush=True)
        if do_analyze:
            await analyze(db.url)
        reader = cast.posters[0]
        pages, seen, queries, page_times = await page_history(db, reader, cast.conversation_id)
        events = await sample_events(db, reader, 200)
        tail_seconds, tail_latencies = await post_many(db, cast, tail, 1, topics=[HISTORY_TOPIC], seed=99, tag="t")
        return HistoryResult(
            backend,
            total,
            built[0],
            pages,
            seen,
            Latency.of(queries),
            Latency.of(page_times),
            Latency.of(events),
            tail / tail_seconds if tail else float("nan"),
            Latency.of(tail_latencies),
        )
    finally:
        await db.dispose()


# --- report ----------------------------------------------------------------------------------


def posting_table(results: Sequence[PostResult]) -> str:
    return markdown_table(
        ["backend", "posters", "messages", "seconds", "messages/s", "post p50 ms", "post p99 ms"],
        [(r.backend, r.concurrency, r.messages, r.seconds, r.rate, r.latency.p50, r.latency.p99) for r in results],
    )


def history_table(results: Sequence[HistoryResult]) -> str:
    return markdown_table(
        [
            "backend",
            "topic size",
            "build s",
            "pages",
            "query p50 ms",
            "query p99 ms",
            "page+JSON p50 ms",
            "page+JSON p99 ms",
            "events p50 ms",
            "events p99 ms",
            "posts/s into full topic",
        ],
        [
            (
                r.backend,
                r.messages,
                r.build_seconds,
                r.pages,
                r.query.p50,
                r.query.p99,
                r.page.p50,
                r.page.p99,
                r.events.p50,
                r.events.p99,
                r.tail_rate,
            )
            for r in results
        ],
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.messages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--messages", type=int, default=10_000, help="posts per posting run (default 10,000)")
    parser.add_argument("--concurrency", default="1,4", help="concurrent posters per run, comma-separated")
    parser.add_argument("--history", type=int, default=100_000, help="messages in the paged topic (0: skip)")
    parser.add_argument(
        "--build", choices=["bulk", "action"], default="bulk", help="load the history in bulk, or post it (slow)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="posts per transaction with --build action")
    parser.add_argument("--tail", type=int, default=1000, help="posts into the full topic after paging")
    parser.add_argument(
        "--pg-url", default=os.environ.get("CHAT_BENCH_DATABASE_URL", DEFAULT_PG_URL), help="its schema is DROPPED"
    )
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE after building the history")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    levels = [int(c) for c in args.concurrency.split(",") if c]
    pg = await postgres_version(args.pg_url) if "postgresql" in backends else None
    print(machine_table(machine_info(pg)), flush=True)
    posted: list[PostResult] = []
    histories: list[HistoryResult] = []
    with tempfile.TemporaryDirectory(prefix="salon-bench-") as tmp:
        workdir = Path(tmp)
        for backend in backends:
            if args.messages:
                for level in levels:
                    result = await bench_posting(backend, workdir, args.pg_url, args.messages, level)
                    print(f"posted {backend} x{level}: {result.rate:,.0f} messages/s", flush=True)
                    posted.append(result)
            if args.history:
                result_h = await bench_history(
                    backend,
                    workdir,
                    args.pg_url,
                    args.history,
                    build=args.build,
                    batch=args.batch,
                    tail=args.tail,
                    do_analyze=not args.no_analyze,
                )
                print(
                    f"history {backend}: built in {result_h.build_seconds:,.0f} s, {result_h.pages} pages, "
                    f"p50 {result_h.page.p50:.2f} ms, p99 {result_h.page.p99:.2f} ms",
                    flush=True,
                )
                histories.append(result_h)
    if posted:
        print("\n### Posting (one transaction per message)\n")
        print(posting_table(posted))
    if histories:
        print(f"\n### History (topic of {args.history:,} messages, pages of {PAGE_SIZE})\n")
        print(history_table(histories))


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()

"""Benchmark: posting messages, and paging through a long topic, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.messages [--backend sqlite|postgresql|both] [--messages 10000] [--history 100000]

1. **Posting.** ``--messages`` posts (10,000 by default) through the domain action
   ``chat.channels.messages.post_message``, one ``db.transaction()`` per message
   (exactly what the server does per post), into one fresh database per backend:
   half from 1 poster, then half from 4 concurrent posters (``--concurrency 1,4``),
   each poster a different member. Reports messages/s committed, the per-post
   latency each poster saw (including the wait for the write lock), and this
   process's CPU time per message.
2. **History.** Fills a conversation whose topic ``archive`` holds ``--history``
   messages, interleaved with 10 % as many in other topics: by default loaded in
   bulk (``bench.bulk``: the rows the action writes, with rendered HTML, revisions
   and ``message.posted`` events chained after the action's own posts), then checked
   with ``chat.archive.audit.verify_log`` and against the shape of an event the
   action wrote; ``--build action`` posts them through the action instead
   (``--batch`` posts per transaction; slow). Then pages through the topic with
   ``chat.channels.history.list_messages`` (what
   ``GET /api/v1/conversations/{id}/messages?topic=&before=&limit=50`` calls),
   newest page first, then ``before=`` the oldest id of each page down to the
   first message. Each page is timed as the API serves it minus HTTP: a read
   session, the query, and the JSON encoding (``to_json`` + ``json.dumps``).
   Also times ``chat.channels.feed.events_since`` pages (``GET /api/v1/events?after=``,
   limit 100) at random cursors, for a member of the channel and for a user who is
   not in it, then 200 first pages (``after=0``) for that outsider, and ``--tail`` more posts into the full topic.

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
    machine_info,
    machine_table,
    markdown_table,
    postgres_version,
    stopwatch,
)
from bench.workload import Bodies, Cast, make_cast, open_database, post_many
from chat.archive.audit import verify_log
from chat.channels.feed import events_since, latest_event_id
from chat.channels.history import list_messages
from chat.channels.message_commands import PostMessage
from chat.channels.messages import post_message
from chat.channels.render import MentionTarget
from chat.domain.actors import Actor
from chat.store import models
from chat.store.db import Database
from chat.web.schema import to_json

HISTORY_TOPIC = "archive"
OTHER_TOPICS = [f"topic {i}" for i in range(20)]
PAGE_SIZE = 50

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


async def bench_posting(
    backend: str, workdir: Path, pg_url: str, total: int, levels: Sequence[int]
) -> list[PostResult]:
    """``total`` posts into one fresh database, split evenly between the concurrency ``levels``, run in turn."""
    db = await open_database(backend, workdir, "posting", pg_url)
    results = []
    try:
        cast = await make_cast(db, max(*levels, 4))
        for n, level in enumerate(levels):
            count = total // len(levels) + (1 if n < total % len(levels) else 0)
            cpu = time.process_time()
            seconds, latencies = await post_many(db, cast, count, level, topics=OTHER_TOPICS, seed=level, tag=f"p{n}")
            cpu = time.process_time() - cpu
            results.append(PostResult(backend, level, count, seconds, cpu, Latency.of(latencies)))
            print(f"posted {backend} x{level}: {results[-1].rate:,.0f} messages/s", flush=True)
    finally:
        await db.dispose()
    return results


# --- 2. history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryResult:
    backend: str
    messages: int  # in the paged topic
    build_seconds: float  # loading and checking the rows
    pages: int
    paged: int  # messages seen while paging
    query: Latency  # read session + list_messages
    page: Latency  # … + JSON encoding
    events: Latency  # events_since pages of 100, a member of the busy channel
    events_outsider: Latency  # … someone who sees almost none of its events
    first_outsider: Latency  # the outsider's first page: after=0, the whole log to scan for few events
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


async def sample_events(
    db: Database, actor: Actor, samples: int, limit: int = 100, *, from_start: bool = False
) -> list[float]:
    """``events_since`` at random cursors (each a full page of ``limit`` events), or at ``after=0``."""
    async with db.read() as session:
        horizon = await latest_event_id(session)
    rng = random.Random(11)
    loop = asyncio.get_running_loop()
    times: list[float] = []
    for _ in range(samples):
        after = 0 if from_start else rng.randint(0, max(0, horizon - limit))
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
        if do_analyze and backend == "postgresql":
            await analyze(db.url)  # what autovacuum does after a load; SQLite servers never run ANALYZE
        reader = cast.posters[0]
        pages, seen, queries, page_times = await page_history(db, reader, cast.conversation_id)
        if seen != total + 1:  # + the reference post
            raise SystemExit(f"paging saw {seen:,} messages, expected {total + 1:,}")
        events = await sample_events(db, reader, 200)
        events_outsider = await sample_events(db, cast.outsider, 50)
        first_outsider = await sample_events(db, cast.outsider, 200, from_start=True)
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
            Latency.of(events_outsider),
            Latency.of(first_outsider),
            tail / tail_seconds if tail else float("nan"),
            Latency.of(tail_latencies),
        )
    finally:
        await db.dispose()


# --- report ----------------------------------------------------------------------------------


def posting_table(results: Sequence[PostResult]) -> str:
    return markdown_table(
        ["backend", "posters", "messages", "seconds", "messages/s", "post p50 ms", "post p99 ms", "client CPU ms/msg"],
        [
            (r.backend, r.concurrency, r.messages, r.seconds, r.rate, r.latency.p50, r.latency.p99, r.cpu_ms)
            for r in results
        ],
    )


def history_table(results: Sequence[HistoryResult]) -> str:
    return markdown_table(
        ["backend", "topic size", "pages", "query p50 ms", "query p99 ms", "page+JSON p50 ms", "page+JSON p99 ms"],
        [(r.backend, r.messages, r.pages, r.query.p50, r.query.p99, r.page.p50, r.page.p99) for r in results],
    )


def more_table(results: Sequence[HistoryResult]) -> str:
    return markdown_table(
        [
            "backend",
            "load + verify s",
            "events p50 ms",
            "events p99 ms",
            "events, outsider p50 ms",
            "events, outsider p99 ms",
            "outsider after=0 p50 ms",
            "outsider after=0 p99 ms",
            "posts/s into full topic",
            "post p50 ms",
            "post p99 ms",
        ],
        [
            (
                r.backend,
                r.build_seconds,
                r.events.p50,
                r.events.p99,
                r.events_outsider.p50,
                r.events_outsider.p99,
                r.first_outsider.p50,
                r.first_outsider.p99,
                r.tail_rate,
                r.tail_latency.p50,
                r.tail_latency.p99,
            )
            for r in results
        ],
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.messages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument(
        "--messages", type=int, default=10_000, help="posts per backend, split between the concurrency levels"
    )
    parser.add_argument("--concurrency", default="1,4", help="concurrent posters per run, comma-separated")
    parser.add_argument("--history", type=int, default=100_000, help="messages in the paged topic (0: skip)")
    parser.add_argument(
        "--build", choices=["bulk", "action"], default="bulk", help="load the history in bulk, or post it (slow)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="posts per transaction with --build action")
    parser.add_argument("--tail", type=int, default=500, help="posts into the full topic after paging")
    parser.add_argument(
        "--pg-url", default=os.environ.get("CHAT_BENCH_DATABASE_URL", DEFAULT_PG_URL), help="its schema is DROPPED"
    )
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE (PostgreSQL) after the load")
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
                posted += await bench_posting(backend, workdir, args.pg_url, args.messages, levels)
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
        print("\n### Events feed pages (limit 100, random cursors) and posting into the full topic\n")
        print(more_table(histories))


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()

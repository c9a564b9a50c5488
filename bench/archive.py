"""Benchmark: the archive's pages and exports on a 100,000-message topic, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.archive [--backend sqlite|postgresql|both] [--history 100000] [--pages 50]

1. **Load.** A fresh database per backend with ``bench.messages.build_history``:
   topic ``archive`` holds ``--history`` messages interleaved with 10 % as many in 20
   other topics, bulk-loaded with rendered HTML, revisions and chained events, then
   verified.
2. **Pages.** Through the real app (``create_app``, every middleware, Jinja rendering),
   as a member signed in with a bearer token: the conversation page (the topic list:
   one aggregate over ``ix_messages_conversation_topic_id``), the first page of the
   topic, ``--pages`` pages from random ``after=`` anchors across the topic, and the
   last page reached with ``before=``. Latency per request (p50, p99, max).
3. **Exports.** ``GET /api/v1/conversations/{id}/export?topic=archive`` as JSONL, CSV
   and HTML zip, driven through the raw ASGI interface so the body is counted and
   discarded as it arrives (a client buffering it would measure itself). Reports
   messages/s, MB/s, time to the first byte and how far this process's RSS rose above
   its level before the export while the body was sent (the export must not hold the topic in memory;
   for the zip, built before its first byte, that is only the sending). The HTML zip is then saved and checked
   by its own ``verify.py`` (timed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("CHAT_ARGON2_PROFILE", "fast")  # hashing is not what is measured; before chat imports

from sqlalchemy import func, select

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
from bench.messages import HISTORY_TOPIC, build_history
from bench.workload import make_cast
from chat.accounts.tokens import issue_token
from chat.app import create_app
from chat.archive.export import PAGE_MAX
from chat.config import Settings
from chat.store import models


@dataclass(frozen=True)
class ExportRun:
    backend: str
    fmt: str
    messages: int
    megabytes: float
    seconds: float
    first_byte_s: float
    rss_growth_mb: float


@dataclass(frozen=True)
class PageRun:
    backend: str
    what: str
    latency: Latency


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


async def asgi_get(
    app: Any, path: str, token: str, sink: Path | None = None, peak: list[float] | None = None
) -> tuple[int, int, float, float]:
    """GET ``path``; (status, body bytes, seconds to the first body byte, total seconds). Body counted, not kept
    (written to ``sink`` when given); ``peak`` gets the highest RSS seen at each body chunk."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
    }
    status, size, first = 0, 0, 0.0
    asked = []
    out = sink.open("wb") if sink is not None else None
    start = time.perf_counter()

    async def receive() -> dict[str, Any]:
        if asked:
            await asyncio.Event().wait()
        asked.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size, first
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and message.get("body"):
            if not size:
                first = time.perf_counter() - start
            size += len(message["body"])
            if peak is not None:
                peak.append(max(peak[-1] if peak else 0.0, rss_mb()))
            if out is not None:
                out.write(message["body"])

    try:
        await app(scope, receive, send)
    finally:
        if out is not None:
            out.close()
    return status, size, first, time.perf_counter() - start


async def bench_backend(
    backend: str, workdir: Path, pg_url: str, total: int, pages: int
) -> tuple[list[PageRun], list[ExportRun], float, str]:
    url = sqlite_url(workdir, f"archive-{backend}.db") if backend == "sqlite" else pg_url
    await fresh_schema(url)
    settings = Settings(database_url=url, data_dir=workdir / backend, allowed_hosts=("127.0.0.1",))
    app = create_app(settings)
    db = app.state.services.db
    async with app.router.lifespan_context(app):
        cast = await make_cast(db, 4)
        checked = await build_history(db, cast, total, build="bulk", batch=1000)
        if backend == "postgresql":
            await analyze(url)
        async with db.transaction() as s:
            token = await issue_token(s, cast.posters[0], "bench")
        cid = cast.conversation_id
        async with db.read() as s:
            m = models.Message
            low, high = (await s.execute(select(func.min(m.id), func.max(m.id)).where(m.topic == HISTORY_TOPIC))).one()
        topic = f"/archive/{cid}/topic?key={HISTORY_TOPIC}"
        runs: list[PageRun] = []

        async def timed(what: str, paths: Sequence[str]) -> None:
            seconds = []
            for path in paths:
                status, _size, _first, took = await asgi_get(app, path, token)
                if status != 200:
                    raise SystemExit(f"{path}: {status}")
                seconds.append(took)
            runs.append(PageRun(backend, what, Latency.of(seconds)))
            print(f"{backend} {what}: p50 {runs[-1].latency.p50:.1f} ms", flush=True)

        rng = random.Random(5)
        await timed("conversation page (topic list)", [f"/archive/{cid}"] * 20)
        await timed(f"topic, first page ({PAGE_MAX})", [topic] * 20)
        await timed("topic, random after= page", [f"{topic}&after={rng.randint(low, high)}" for _ in range(pages)])
        await timed("topic, last page (before=)", [f"{topic}&before={high + 1}"] * 20)

        exports: list[ExportRun] = []
        bundle = workdir / f"{backend}.zip"
        for fmt in ("jsonl", "csv", "html"):
            before, peak = rss_mb(), [rss_mb()]
            path = f"/api/v1/conversations/{cid}/export?format={fmt}&topic={HISTORY_TOPIC}"
            status, size, first, took = await asgi_get(app, path, token, bundle if fmt == "html" else None, peak)
            if status != 200:
                raise SystemExit(f"{path}: {status}")
            exports.append(ExportRun(backend, fmt, total + 1, size / 1e6, took, first, peak[-1] - before))
            print(f"{backend} export {fmt}: {size / 1e6:.1f} MB in {took:.1f} s", flush=True)
        folder = workdir / f"{backend}-bundle"
        with zipfile.ZipFile(bundle) as z:
            z.extractall(folder)
        with stopwatch() as verified:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "verify.py", cwd=folder, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"the bundle does not verify: {out.decode()}")
    await db.dispose()
    return runs, exports, verified[0], checked


def pages_table(runs: Sequence[PageRun]) -> str:
    rows = [
        (r.backend, r.what, r.latency.count, f"{r.latency.p50:.1f}", f"{r.latency.p99:.1f}", f"{r.latency.max:.1f}")
        for r in runs
    ]
    return markdown_table(("backend", "page", "requests", "p50 ms", "p99 ms", "max ms"), rows)


def exports_table(runs: Sequence[ExportRun]) -> str:
    rows = [
        (
            r.backend,
            r.fmt,
            f"{r.messages:,}",
            f"{r.megabytes:,.1f}",
            f"{r.seconds:,.1f}",
            f"{r.messages / r.seconds:,.0f}",
            f"{r.megabytes / r.seconds:,.1f}",
            f"{r.first_byte_s:,.2f}",
            f"{r.rss_growth_mb:,.0f}",
        )
        for r in runs
    ]
    headers = ("backend", "format", "messages", "MB", "s", "msg/s", "MB/s", "first byte s", "peak RSS +MB")
    return markdown_table(headers, rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--history", type=int, default=100_000, help="messages in the topic")
    parser.add_argument("--pages", type=int, default=50, help="random topic pages to time")
    parser.add_argument(
        "--pg-url", default=os.environ.get("CHAT_BENCH_DATABASE_URL", DEFAULT_PG_URL), help="its schema is DROPPED"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    pg = await postgres_version(args.pg_url) if "postgresql" in backends else None
    print(machine_table(machine_info(pg)), flush=True)
    pages: list[PageRun] = []
    exports: list[ExportRun] = []
    with tempfile.TemporaryDirectory(prefix="salon-bench-archive-") as tmp:
        for backend in backends:
            p, e, verify_s, checked = await bench_backend(backend, Path(tmp), args.pg_url, args.history, args.pages)
            pages += p
            exports += e
            print(f"{backend}: {checked}; the HTML bundle's verify.py passed in {verify_s:.1f} s", flush=True)
    print(f"\n### Archive pages (topic of {args.history:,} messages, pages of {PAGE_MAX})\n")
    print(pages_table(pages))
    print("\n### Exports of the topic\n")
    print(exports_table(exports))


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()

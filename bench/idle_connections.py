"""Benchmark: the server's memory with 2,000 idle authenticated websocket connections.

    .venv/bin/python -m bench.idle_connections [--users 100] [--per-user 20] [--hold 10]

Starts ``chat serve`` (SQLite, ``CHAT_ARGON2_PROFILE=fast``, the load-test
settings of ``bench.fanout``: posting and per-address connection limits lifted,
since every client comes from 127.0.0.1), registers ``--users`` users who all
join one public conversation (so presence frames flow, as in a company-wide
channel), then opens ``--per-user`` sockets per user (20 is the default
``CHAT_WS_MAX_PER_USER``, which stays in force), each authenticated with its
user's bearer token. Every socket reads what the server sends (hello, presence)
and sends a ``ping`` frame every ``--ping`` seconds, as an idle client does to
keep its connection (the server closes a socket silent for two heartbeats).

Reports the server's RSS (psutil) before the first connection, its peak while
connecting, its steady RSS with every connection open (median of samples over
``--hold`` seconds once the server is idle), the cost per connection, and the
RSS after every socket is closed again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.common import load_average, machine_info, machine_table, markdown_table
from bench.fanout_clients import open_socket
from bench.fanout_servers import (
    Meter,
    ServerProcess,
    bounded,
    quiesce,
    raise_open_files_limit,
    run_loop,
    salon_account,
    salon_channel,
    salon_server,
)

MB = 2**20


async def drain(ws: ClientConnection, closed: list[int], closing: asyncio.Event) -> None:
    """Read and drop everything the server sends; note a close we did not ask for."""
    try:
        while True:
            await ws.recv(decode=False)
    except ConnectionClosed as exc:
        if not closing.is_set():
            closed.append(exc.rcvd.code if exc.rcvd else 1006)


async def heartbeat(sockets: list[ClientConnection], every: float) -> None:
    n = 0
    while True:
        await asyncio.sleep(every)
        for ws in list(sockets):
            n += 1
            with contextlib.suppress(ConnectionClosed):
                await ws.send(f'{{"type":"ping","id":{n}}}')


async def steady_rss(ps: psutil.Process, hold: float) -> float:
    samples: list[int] = []
    end = time.perf_counter() + hold
    while time.perf_counter() < end:
        samples.append(int(ps.memory_info().rss))
        await asyncio.sleep(0.1)
    return statistics.median(samples) / MB


async def measure(server: ServerProcess, args: argparse.Namespace) -> dict[str, object]:
    base = f"http://127.0.0.1:{server.port}"
    url = f"ws://127.0.0.1:{server.port}/api/v1/ws"
    t0 = time.perf_counter()
    accounts = await bounded(8, [lambda i=i: salon_account(base, f"idle{i:04d}") for i in range(args.users)])
    await salon_channel(base, accounts[0][1], "all hands", accounts[1:])
    setup_s = time.perf_counter() - t0

    ps = server.ps
    await quiesce(ps)
    before = await steady_rss(ps, 2.0)
    sockets: list[ClientConnection] = []
    closed: list[int] = []
    closing = asyncio.Event()
    readers: list[asyncio.Task[None]] = []
    pinger = asyncio.get_running_loop().create_task(heartbeat(sockets, args.ping))

    async def connect(token: str) -> None:
        ws = await open_socket(url, token)
        sockets.append(ws)
        readers.append(asyncio.get_running_loop().create_task(drain(ws, closed, closing)))

    tokens = [token for _, token in accounts for _ in range(args.per_user)]
    with Meter(ps) as meter:
        t1 = time.perf_counter()
        await bounded(args.concurrency, [lambda t=t: connect(t) for t in tokens])
        connect_s = time.perf_counter() - t1
        await quiesce(ps)
        settle_s = time.perf_counter() - t1 - connect_s
        steady = await steady_rss(ps, args.hold)
    open_now = sum(1 for ws in sockets if ws.state.name == "OPEN")
    print(f"open {open_now}/{len(tokens)}, closed by server: {len(closed)}", file=sys.stderr)

    pinger.cancel()
    closing.set()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, pinger, return_exceptions=True)
    await quiesce(ps)
    after_close = await steady_rss(ps, 2.0)
    return {
        "users × sockets": f"{args.users} × {args.per_user}",
        "connections open": f"{open_now:,} of {len(tokens):,}",
        "closed by the server": ", ".join(map(str, sorted(set(closed)))) or "none",
        "RSS before connecting": f"{before:.0f} MB",
        "RSS peak while connecting": f"{meter.peak_rss / MB:.0f} MB",
        "RSS with every connection open (steady)": f"{steady:.0f} MB",
        "per connection": f"{(steady - before) * 1024 / len(tokens):.0f} KB",
        "RSS after closing them all": f"{after_close:.0f} MB",
        "connect time (server idle after)": f"{connect_s:.1f} s (+{settle_s:.1f} s)",
        "set-up (register, log in, token, join)": f"{setup_s:.1f} s",
        "target": f"under 200 MB: {'met' if steady < 200 else 'MISSED'}",
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=20, help="sockets per user [20, the default per-user cap]")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds of RSS samples with all open [10]")
    parser.add_argument("--ping", type=float, default=20.0, help="seconds between a socket's ping frames [20]")
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes in flight [50]")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None, help="also write the markdown report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    nofile = raise_open_files_limit()
    needed = args.users * args.per_user * 2 + 100  # client and server sockets share the limit's order
    if nofile < needed:
        sys.exit(f"open-files limit {nofile} is below {needed}; raise the hard limit (ulimit -Hn)")
    info = machine_info()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idle-")))
        server = salon_server(workdir)
        stack.callback(server.stop)
        figures = run_loop(measure(server, args))
    info = {
        **info,
        "load average after": load_average(),
        "command": "python -m bench.idle_connections " + " ".join(sys.argv[1:]),
    }
    text = machine_table(info) + "\n\n" + markdown_table(["idle connections", ""], list(figures.items()))
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()

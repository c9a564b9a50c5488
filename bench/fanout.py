"""Benchmark: fan-out of one conversation to N receivers, Salon and a bare reference in the same run.

    .venv/bin/python -m bench.fanout [--receivers 10,100,500] [--duration 15] [--open-duration 30] [--rate 4]

Two servers run side by side as subprocesses, on the same disk:

* **Salon**: ``chat serve`` (uvicorn, SQLite in WAL mode, ``synchronous=FULL``)
  with the rate limits lifted through the documented load-test settings
  (``bench.fanout_servers.LOAD_TEST_ENV``) and ``CHAT_ARGON2_PROFILE=fast``
  (registering 500 users with the production argon2 profile would dominate the
  set-up; hashing is not what is measured);
* **reference**: ``bench.reference_server``, a minimal ``websockets`` broadcast
  server that appends each message to SQLite (WAL, ``synchronous=FULL``, one
  commit per message) and forwards it to every connected client.

For each N and each mode, Salon's run and then the reference's: one sender and
N receivers (each a different user, all members of one public conversation on
Salon) connect, the server is left to settle (Salon's presence frames), then:

* **closed loop**: the sender posts the next message as soon as the previous
  one is acked, for ``--duration`` seconds or ``--max-messages`` messages;
* **open loop**: the sender posts ``--rate`` messages per second for
  ``--open-duration`` seconds, whatever the acks do.

Every client runs in this one process on one event loop (uvloop when
installed), so a delivery's latency is measured on one monotonic clock: from
just before the sender's ``send`` to the moment a receiver's socket read
returns the frame (receivers: ``bench.fanout_clients.RawReceiver``). The
clients share the machine's cores with the server: on a 2-core machine the
latency includes the clients' own work (the N-th receiver of a frame is read
after the N-1 others), for both servers alike. Reported per run: posts acked/s,
deliveries/s (deliveries to receivers over the time from the first send to the
last delivery), per-delivery latency p50/p99, the server's CPU-seconds (user +
system, psutil) over that window and its peak RSS (sampled every 50 ms from the
first connection to the end). bench/FANOUT.md has the recorded figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from websockets.exceptions import ConnectionClosed

from bench.common import Latency, load_average, machine_info, machine_table, markdown_table
from bench.fanout_clients import (
    RawReceiver,
    RunState,
    Sender,
    closed_loop,
    heartbeat,
    open_loop,
    open_receiver,
    open_socket,
    settle,
)
from bench.fanout_servers import (
    BENCH_ENV,
    Meter,
    ServerProcess,
    bounded,
    quiesce,
    raise_open_files_limit,
    reference_server,
    run_loop,
    salon_account,
    salon_channel,
    salon_server,
)


@dataclass
class Target:
    """A server as the client harness sees it."""

    name: str
    server: ServerProcess
    ws_url: str
    sender_token: str
    receiver_tokens: list[str]
    conversations: dict[int, int]  # N -> conversation id


async def salon_target(server: ServerProcess, sizes: Sequence[int]) -> Target:
    """Register the sender (admin) and max(N) receivers; one public conversation per N with N receivers."""
    base = f"http://127.0.0.1:{server.port}"
    _, admin_token = await salon_account(base, "sender")
    accounts = await bounded(8, [lambda i=i: salon_account(base, f"receiver{i:04d}") for i in range(max(sizes))])
    conversations = {n: await salon_channel(base, admin_token, f"fanout {n}", accounts[:n]) for n in sizes}
    return Target(
        "Salon",
        server,
        f"ws://127.0.0.1:{server.port}/api/v1/ws",
        admin_token,
        [token for _, token in accounts],
        conversations,
    )


def bare_target(server: ServerProcess, sizes: Sequence[int]) -> Target:
    return Target(
        "reference",
        server,
        f"ws://127.0.0.1:{server.port}/",
        "none",
        ["none"] * max(sizes),
        dict.fromkeys(sizes, 1),
    )


@dataclass
class RunResult:
    target: str
    receivers: int
    mode: str
    sent: int
    acked: int
    deliveries: int
    latency: Latency
    ack_latency: Latency
    acked_per_s: float
    deliveries_per_s: float
    server_cpu_s: float
    window_s: float
    peak_rss_mb: float
    client_cpu_s: float
    connect_s: float
    errors: dict[str, int]
    closed_early: list[str]
    first_p50: float  # ms: per post, its earliest delivery; the median over posts (≈ the post path)
    last_p50: float  # ms: per post, its latest delivery; the median over posts (+ the whole fan-out)

    @property
    def cpu_ms_per_post(self) -> float:
        return 1000 * self.server_cpu_s / self.acked if self.acked else float("nan")

    @property
    def lost(self) -> int:
        return self.acked * self.receivers - self.deliveries


async def run_once(target: Target, n: int, mode: str, args: argparse.Namespace) -> RunResult:
    await quiesce(target.server.ps)
    state = RunState(marker=f"x{uuid.uuid4().hex[:8]}x".encode())
    me = psutil.Process()
    receivers: list[RawReceiver] = []

    async def join(token: str) -> None:
        receivers.append(await open_receiver(target.ws_url, token, state))

    with Meter(target.server.ps) as meter:
        t_connect = time.perf_counter()
        senders = [
            Sender(await open_socket(target.ws_url, target.sender_token), state, target.conversations[n])
            for _ in range(args.senders if mode == "closed" else 1)
        ]
        sockets = [sender.ws for sender in senders]
        pinger = asyncio.get_running_loop().create_task(heartbeat(receivers, sockets))
        await bounded(args.connect_concurrency, [lambda t=t: join(t) for t in target.receiver_tokens[:n]])
        await settle(state)
        connect_s = time.perf_counter() - t_connect

        state.phase = "run"
        cpu0, client0 = meter.cpu(), me.cpu_times()
        try:
            if mode == "closed":
                await asyncio.gather(*(closed_loop(sender, args.duration, args.max_messages) for sender in senders))
            else:
                await open_loop(senders[0], args.open_duration, args.rate)
        except (TimeoutError, ConnectionError, ConnectionClosed) as exc:
            print(f"  ! {target.name} N={n} {mode}: sending stopped: {exc!r}", file=sys.stderr)
        for _ in range(int(args.drain / 0.02)):  # the last deliveries, to the receivers still open
            if state.deliveries >= state.acked * sum(r.close_code is None for r in receivers):
                break
            await asyncio.sleep(0.02)
        cpu1, client1 = meter.cpu(), me.cpu_times()

        state.closing = True
        pinger.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), *(r.close() for r in receivers), return_exceptions=True)
        for sender in senders:
            sender.reader.cancel()
        await asyncio.gather(*(sender.reader for sender in senders), pinger, return_exceptions=True)

    if args.dump is not None:
        args.dump.mkdir(parents=True, exist_ok=True)
        with (args.dump / f"{target.name.lower()}-{n}-{mode}.csv").open("w") as out:
            out.write("seq,latency_ms\n")
            rows = zip(state.delivered_seqs, state.latencies, strict=True)
            out.writelines(f"{seq},{1000 * lat:.3f}\n" for seq, lat in rows)
    earliest: dict[int, float] = {}
    latest: dict[int, float] = {}
    for seq, lat in zip(state.delivered_seqs, state.latencies, strict=True):
        earliest[seq] = min(lat, earliest.get(seq, lat))
        latest[seq] = max(lat, latest.get(seq, lat))
    first = state.sent[0] if state.sent else 0.0
    window = max(state.last_delivery, state.last_ack) - first
    return RunResult(
        target=target.name,
        receivers=n,
        mode=mode,
        sent=len(state.sent),
        acked=state.acked,
        deliveries=state.deliveries,
        latency=Latency.of(state.latencies),
        ack_latency=Latency.of(state.ack_latencies),
        acked_per_s=state.acked / (state.last_ack - first) if state.acked else 0.0,
        deliveries_per_s=state.deliveries / (state.last_delivery - first) if state.deliveries else 0.0,
        server_cpu_s=cpu1 - cpu0,
        window_s=window,
        peak_rss_mb=meter.peak_rss / 2**20,
        client_cpu_s=(client1.user + client1.system) - (client0.user + client0.system),
        connect_s=connect_s,
        errors=state.errors,
        closed_early=state.closed_early,
        first_p50=Latency.of(list(earliest.values())).p50,
        last_p50=Latency.of(list(latest.values())).p50,
    )


# --- report -----------------------------------------------------------------------------------


def results_table(results: Sequence[RunResult]) -> str:
    rows = [
        (
            r.receivers,
            r.mode,
            r.target,
            r.acked_per_s,
            r.deliveries_per_s,
            r.latency.p50,
            r.latency.p99,
            r.server_cpu_s,
            r.peak_rss_mb,
            r.lost,
        )
        for r in results
    ]
    headers = [
        "N",
        "mode",
        "server",
        "posts acked/s",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "server CPU-s",
        "peak RSS MB",
        "lost",
    ]
    return markdown_table(headers, rows)


def detail_table(results: Sequence[RunResult]) -> str:
    rows = [
        (
            r.receivers,
            r.mode,
            r.target,
            r.sent,
            r.deliveries,
            r.window_s,
            r.ack_latency.p50,
            r.ack_latency.p99,
            r.first_p50,
            r.last_p50,
            r.latency.max,
            1e6 * r.server_cpu_s / r.deliveries if r.deliveries else float("nan"),
            r.client_cpu_s,
            r.connect_s,
            ", ".join(f"{k}×{v}" for k, v in r.errors.items()) or "–",
            ", ".join(f"{k} ×{v}" for k, v in sorted(Counter(r.closed_early).items())) or "–",
        )
        for r in results
    ]
    headers = [
        "N",
        "mode",
        "server",
        "posts",
        "deliveries",
        "window s",
        "ack p50 ms",
        "ack p99 ms",
        "first delivery p50 ms",
        "last delivery p50 ms",
        "max ms",
        "server CPU µs / delivery",
        "client CPU-s",
        "connect + settle s",
        "error frames",
        "closed by server",
    ]
    return markdown_table(headers, rows)


def targets_table(results: Sequence[RunResult], senders: int = 1) -> str:
    """Salon against the reference of the same run, with the targets of issue 10, point 6."""

    def pick(target: str, n: int, mode: str) -> RunResult | None:
        return next((r for r in results if (r.target, r.receivers, r.mode) == (target, n, mode)), None)

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    rows: list[tuple[object, ...]] = []
    for n in sorted({r.receivers for r in results}):
        for mode in ("closed", "open"):
            salon, ref = pick("Salon", n, mode), pick("reference", n, mode)
            if salon is None or ref is None:
                continue
            tput = salon.deliveries_per_s / ref.deliveries_per_s if ref.deliveries_per_s else float("nan")
            posts = salon.acked_per_s / ref.acked_per_s if ref.acked_per_s else float("nan")
            p99 = salon.latency.p99 / ref.latency.p99 if ref.latency.p99 else float("nan")
            cpu, ref_cpu = salon.cpu_ms_per_post, ref.cpu_ms_per_post
            checks: list[str] = []
            for r in (salon, ref):
                if r.closed_early:
                    checks.append(f"not comparable: {r.target} closed {len(r.closed_early)} of {n} receivers")
            closed = mode == "closed"
            if n == 10 and closed and senders == 1:
                checks.append(f"CPU/post ≤ 1.5 ms: {verdict(cpu <= 1.5)}")
                checks.append(f"≤ 3.5× the reference's: {verdict(cpu <= 3.5 * ref_cpu)}")
            if n == 10 and closed and senders > 1:
                checks.append(f"acked posts/s ≥ 35 % ({senders} senders): {verdict(posts >= 0.35)}")
            if n == 100 and closed and senders == 1:
                checks.append(f"deliveries/s ≥ 50 %: {verdict(tput >= 0.5)}; p99 ≤ 3×: {verdict(p99 <= 3)}")
            if n == 500 and not closed:
                checks.append(f"p99 < 30 ms: {verdict(salon.latency.p99 < 30)}")
                checks.append(f"connect + settle < 3 s: {verdict(salon.connect_s < 3)}")
            rows.append(
                (
                    n,
                    mode,
                    senders if closed else 1,
                    f"{100 * tput:.0f} %",
                    f"{100 * posts:.0f} %",
                    f"{cpu:.2f} / {ref_cpu:.2f} ({cpu / ref_cpu if ref_cpu else float('nan'):.1f}×)",
                    f"{p99:.1f}×",
                    "; ".join(checks) or "–",
                )
            )
    headers = [
        "N",
        "mode",
        "senders",
        "Salon/ref deliveries/s",
        "Salon/ref posts/s",
        "server CPU ms/post Salon / ref",
        "Salon/ref p99",
        "targets (issue 10)",
    ]
    return markdown_table(headers, rows)


# --- main -------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, salon: ServerProcess, bare: ServerProcess) -> list[RunResult]:
    t0 = time.perf_counter()
    targets = [await salon_target(salon, args.receivers), bare_target(bare, args.receivers)]
    print(f"set-up (register, log in, token, join) took {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results: list[RunResult] = []
    for n in args.receivers:
        for mode in args.modes:
            for target in targets:
                if target.name.lower() not in args.servers:
                    continue
                result = await run_once(target, n, mode, args)
                print(
                    f"  {target.name:9} N={n:<4} {mode:6} acked/s={result.acked_per_s:8.1f} "
                    f"deliveries/s={result.deliveries_per_s:9.0f} p50={result.latency.p50:7.2f} ms "
                    f"p99={result.latency.p99:7.2f} ms cpu={result.server_cpu_s:5.2f}s "
                    f"rss={result.peak_rss_mb:5.0f} MB lost={result.lost} closed={dict(Counter(result.closed_early))}",
                    file=sys.stderr,
                )
                results.append(result)
    return results


def report(args: argparse.Namespace, info: dict[str, str], results: Sequence[RunResult], load_after: str) -> str:
    import uvicorn
    import websockets

    info = {
        **info,
        "load average after": load_after,
        "uvicorn / websockets": f"{uvicorn.__version__} / {websockets.__version__}",
        "Salon settings": " ".join([*(f"{k}={v}" for k, v in BENCH_ENV.items()), *args.salon_env]),
        "command": "python -m bench.fanout " + " ".join(sys.argv[1:]),
    }
    return "\n\n".join(
        [
            machine_table(info),
            results_table(results),
            targets_table(results, args.senders),
            detail_table(results),
        ]
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receivers", default="10,100,500", help="comma-separated N [10,100,500]")
    parser.add_argument("--modes", default="closed,open", help="closed,open [both]")
    parser.add_argument("--servers", default="salon,reference", help="salon,reference [both]")
    parser.add_argument("--duration", type=float, default=15.0, help="closed loop: seconds of sending [15]")
    parser.add_argument(
        "--open-duration", type=float, default=30.0, help="open loop: seconds of sending [30: 120 posts at 4/s]"
    )
    parser.add_argument("--max-messages", type=int, default=2000, help="closed loop: at most this many posts [2000]")
    parser.add_argument("--rate", type=float, default=4.0, help="open loop: posts per second [4]")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for the last deliveries [15]")
    parser.add_argument(
        "--salon-env",
        action="append",
        default=[],
        metavar="CHAT_X=V",
        help="an extra setting for Salon's server (repeatable), e.g. CHAT_WS_QUEUE_SIZE=1024",
    )
    parser.add_argument(
        "--senders", type=int, default=1, help="closed loop: concurrent senders, each its own socket [1]"
    )
    parser.add_argument("--connect-concurrency", type=int, default=20, help="receiver handshakes in flight [20]")
    parser.add_argument("--workdir", type=Path, default=None, help="where the databases go [a temporary directory]")
    parser.add_argument("--dump", type=Path, default=None, help="write each run's deliveries (seq, ms) as CSV here")
    parser.add_argument("--output", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args(argv)
    args.receivers = [int(x) for x in args.receivers.split(",")]
    args.modes = [m.strip() for m in args.modes.split(",")]
    args.servers = [s.strip().lower() for s in args.servers.split(",")]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    raise_open_files_limit()
    info = machine_info()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fanout-")))
        workdir.mkdir(parents=True, exist_ok=True)
        salon = salon_server(workdir, dict(kv.split("=", 1) for kv in args.salon_env))
        stack.callback(salon.stop)
        bare = reference_server(workdir)
        stack.callback(bare.stop)
        results = run_loop(bench(args, salon, bare))
    text = report(args, info, results, load_average())
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""The servers under test in ``bench.fanout`` and ``bench.idle_connections``: processes, meters, accounts.

* :class:`ServerProcess` runs a server as a subprocess whose CPU and memory
  psutil reads (:class:`Meter`); :func:`salon_server` starts ``chat serve``
  with the load-test settings, :func:`reference_server` the bare reference
  (``bench.reference_server``).
* :func:`salon_account` registers a user through the public API, logs in and
  creates an API token, as a bot's owner would.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

import httpx2
import psutil

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# Rate limits lifted the way a load test does it (docs/operations.md); 0 disables a limit. The
# per-user connection cap (CHAT_WS_MAX_PER_USER, 20) stays: every receiver is its own user.
LOAD_TEST_ENV = {
    "CHAT_LOGIN_LIMIT_PER_ACCOUNT": "0",
    "CHAT_LOGIN_LIMIT_PER_ACCOUNT_GLOBAL": "0",
    "CHAT_LOGIN_LIMIT_PER_ADDRESS": "0",
    "CHAT_MAX_CONNECTIONS": "100000",  # the benches hold thousands of sockets on purpose
    "CHAT_REGISTER_LIMIT_PER_ADDRESS": "0",
    "CHAT_POST_LIMIT_PER_USER": "0",
    "CHAT_WS_MAX_PER_ADDRESS": "0",
}
# Registering hundreds of users with the production argon2 profile would dominate the set-up; the
# receivers register themselves (registration is by invitation by default since issue 11).
BENCH_ENV = {**LOAD_TEST_ENV, "CHAT_ARGON2_PROFILE": "fast", "CHAT_REGISTRATION_MODE": "open"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def raise_open_files_limit() -> int:
    """Lift the soft limit on open files to the hard limit (the servers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 1 << 16 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class ServerProcess:
    """A server under test: a subprocess whose CPU and memory psutil can read."""

    def __init__(self, name: str, argv: list[str], *, port: int, log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._ps: psutil.Process | None = None

    @property
    def ps(self) -> psutil.Process:
        assert self._ps is not None, "not started"
        return self._ps

    def start(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self._ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_path.read_text()[-3000:]}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


def port_open(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    return ready


def http_ok(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx2.get(url, timeout=1).status_code == 200
        except httpx2.HTTPError:
            return False

    return ready


def salon_server(workdir: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """``chat serve`` on a free port."""
    port = free_port()
    data = workdir / "salon"
    data.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        "Salon",
        [sys.executable, "-m", "chat.cli", "serve", "--port", str(port), "--data-dir", str(data)],
        port=port,
        log_path=workdir / "salon.log",
        env={**BENCH_ENV, **(env or {})},
    )
    server.start(http_ok(f"http://127.0.0.1:{port}/api/v1/openapi.json"))
    return server


def reference_server(workdir: Path) -> ServerProcess:
    port = free_port()
    server = ServerProcess(
        "reference",
        [sys.executable, "-m", "bench.reference_server", "--port", str(port), "--db", str(workdir / "reference.db")],
        port=port,
        log_path=workdir / "reference.log",
        env={},
    )
    server.start(port_open(port))
    return server


class Meter:
    """A server's CPU-seconds (user + system) between two marks, and its peak RSS, sampled."""

    def __init__(self, ps: psutil.Process, interval: float = 0.05) -> None:
        self.ps = ps
        self.interval = interval
        self.peak_rss = 0
        self._task: asyncio.Task[None] | None = None

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def rss(self) -> int:
        rss = int(self.ps.memory_info().rss)
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    async def _sample(self) -> None:
        while True:
            self.rss()
            await asyncio.sleep(self.interval)

    def __enter__(self) -> Meter:
        self.rss()
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.rss()


async def quiesce(ps: psutil.Process, *, below: float = 0.05, window: float = 0.3, limit_s: float = 60.0) -> float:
    """Wait until the server uses under ``below`` of a core over ``window`` seconds; returns the wait."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        t0 = ps.cpu_times()
        await asyncio.sleep(window)
        t1 = ps.cpu_times()
        if (t1.user + t1.system - t0.user - t0.system) / window < below:
            break
    return time.perf_counter() - start


# --- accounts ---------------------------------------------------------------------------------


async def bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def salon_account(base_url: str, username: str) -> tuple[int, str]:
    """Register ``username`` (the first account becomes admin), log in, create an API token."""
    password = f"{username}-secret-pw"
    async with httpx2.AsyncClient(base_url=f"{base_url}/api/v1", timeout=60) as client:
        r = await client.post("/users", json={"username": username, "password": password})
        assert r.status_code == 201, r.text
        user_id = int(r.json()["id"])
        r = await client.post("/session", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        r = await client.post("/tokens", json={"name": "bench"}, headers={"Origin": base_url})
        assert r.status_code == 201, r.text
        return user_id, str(r.json()["token"])


def run_loop(coro: Awaitable[T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


async def salon_channel(base_url: str, owner_token: str, name: str, members: Sequence[tuple[int, str]]) -> int:
    """Create a public conversation as the owner of ``owner_token``; each of ``members`` joins it."""
    async with httpx2.AsyncClient(base_url=f"{base_url}/api/v1", timeout=60) as client:
        r = await client.post(
            "/conversations",
            json={"kind": "public", "name": name},
            headers={"Authorization": f"Bearer {owner_token}"},
        )
        assert r.status_code == 201, r.text
        conv = int(r.json()["id"])

        async def join(user_id: int, token: str) -> None:
            r = await client.post(
                f"/conversations/{conv}/members",
                json={"user_id": user_id},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code in (200, 201), r.text

        await bounded(8, [lambda u=u, t=t: join(u, t) for u, t in members])
    return conv

"""Private services for the fault tests: a tmpfs volume, a PostgreSQL cluster and a Redis server.

Each is started inside the test on a free 127.0.0.1 port and stopped, restarted or filled
at will, never touching the shared PostgreSQL (5432) or Redis (6379). They need root
(``mount``; ``runuser`` to run PostgreSQL as its own user) and Debian's PostgreSQL
and Redis binaries. ``fault_test_skip_reason`` says why a test cannot run here; the
reason names ``CHAT_TEST_DATABASE_URL``, so CI (which sets it and runs as root) fails
instead of skipping (``.ci/require_integration.py``), while a developer's plain
``pytest`` skips them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.integration.server import free_port


def _newest_pg_bin() -> Path:
    """Debian's newest installed PostgreSQL server binaries (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _newest_pg_bin()
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def fault_test_skip_reason(*, postgres: bool = False, redis: bool = False) -> str | None:
    """None when the fault tests can run here, else the reason to skip."""
    if not os.environ.get("CHAT_TEST_DATABASE_URL"):
        return "fault tests run where the integration services do: set CHAT_TEST_DATABASE_URL (CI does), as root"
    missing = []
    if os.geteuid() != 0:
        missing.append("root (mount, runuser)")
    if shutil.which("mount") is None:
        missing.append("mount")
    if postgres and not (PG_BIN / "pg_ctl").exists():
        missing.append(f"{PG_BIN}/pg_ctl (Debian's postgresql)")
    if postgres and shutil.which("runuser") is None:
        missing.append("runuser")
    if redis and not Path(REDIS_SERVER).exists():
        missing.append("redis-server")
    if missing:
        return f"fault tests need {', '.join(missing)} (CHAT_TEST_DATABASE_URL is set: CI must have them)"
    return None


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


# --- a small tmpfs volume ------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. ``"8m"``) at ``path`` for the duration."""
    path.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


def fill(ballast: Path) -> int:
    """Write ``ballast`` until its volume has no byte left (ENOSPC); returns the bytes written."""
    written = 0
    with ballast.open("wb", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * size
            while True:
                try:
                    written += f.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


# --- a private PostgreSQL cluster ----------------------------------------------------------------


class PostgresCluster:
    """``initdb`` into a fresh directory owned by ``postgres``; started with ``pg_ctl`` on a free port."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="salon-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        shutil.chown(self.root, "postgres", "postgres")

    def _as_postgres(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run("runuser", "-u", "postgres", "--", *args, timeout=timeout)

    def init(self) -> None:
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "fsync": "off",  # the machine does not crash in these tests; a restart keeps the OS cache
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{key} = '{value}'\n" for key, value in settings.items())

    def pg_ctl(self, *args: str) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args)

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.pg_ctl("restart", "-m", mode)

    def create_database(self, name: str) -> str:
        """Create ``name``; returns its SQLAlchemy URL."""
        self._as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A private cluster, initialised and started; destroyed afterwards (the fault tests' fixture)."""
    pg = PostgresCluster()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


# --- a private Redis ---------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` on a free port, without persistence; stop and start it at will."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - a fixed command line
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start:\n{self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def running_redis(log_dir: Path) -> Iterator[RedisServer]:
    """A private ``redis-server``, started; stopped afterwards (the fault tests' fixture)."""
    server = RedisServer(log_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()

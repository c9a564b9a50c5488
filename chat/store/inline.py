"""An ``aiosqlite`` stand-in that runs SQLite on the event loop, except the COMMIT.

aiosqlite runs *every* DB-API call (cursor, execute, fetch, close) on a worker
thread and hands each result back through the event loop: a posted message
cost about 80 such round trips, each a thread wake-up and a loop wake-up
(bench/README.md, "What limits Salon", finding 2). A statement on a local
SQLite file in WAL mode takes microseconds once its pages are cached, far less
than one hand-off, so these connections run them inline. Only what may
wait goes to a thread: ``commit`` (the fsync of ``synchronous=FULL``, about
half a millisecond on this machine, more on a busy disk), so the loop keeps
serving while a batch becomes durable. ``BEGIN IMMEDIATE`` on the writer's
connection, which must wait while another process (the CLI) holds the write
lock, waits by sleeping on the loop rather than in SQLite's busy handler.

SQLAlchemy's ``sqlite+aiosqlite`` dialect accepts it through
``create_async_engine(url, async_creator=...)``; it implements the part of
aiosqlite's interface that the dialect calls. Used only by the SQLite writer
(:mod:`chat.store.writer`) and by reads; a read whose cost grows with the data
(a search, an export) asks for aiosqlite's thread instead (``Database.read(threaded=True)``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from sqlalchemy.engine.url import make_url

LOCK_TIMEOUT_S = 30.0  # how long a write waits for another process's write lock (SQLite's busy_timeout)
_TAKES_WRITE_LOCK = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor, lock_timeout: float) -> None:
        self._cursor = cursor
        self._lock_timeout = lock_timeout

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._self().__await__()

    async def _self(self) -> InlineCursor:
        return self

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        if self._lock_timeout and sql.startswith(_TAKES_WRITE_LOCK):
            await self._take_write_lock(sql, parameters)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def _take_write_lock(self, sql: str, parameters: Any) -> None:
        """Try at once; while another connection (the CLI, another process) holds the write lock,
        retry after short sleeps until ``lock_timeout``: SQLite's busy handler, without blocking the loop."""
        deadline = time.monotonic() + self._lock_timeout
        pause = 0.001
        while True:
            try:
                self._cursor.execute(sql, parameters)
                return
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(2 * pause, 0.05)

    async def executemany(self, sql: str, seq_of_parameters: Any) -> InlineCursor:
        self._cursor.executemany(sql, seq_of_parameters)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size) if size else self._cursor.fetchmany()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's request queue (the dialect sets ``isolation_level`` through it)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class InlineConnection:
    """One ``sqlite3`` connection driven from the event loop; ``commit`` runs on a thread.

    ``timeout``: how long a statement waits for a lock. With ``wait_in_loop`` SQLite's
    own busy handler is off and ``BEGIN IMMEDIATE`` waits by sleeping on the loop
    instead (the writer's connection); otherwise SQLite waits itself (reads, which in
    WAL mode practically never wait).
    """

    def __init__(self, path: str, *, timeout: float, wait_in_loop: bool = False) -> None:
        # check_same_thread=False: only the COMMIT runs elsewhere, and never concurrently
        # with a statement (the writer awaits it before running anything else).
        self._conn = sqlite3.connect(path, timeout=0 if wait_in_loop else timeout, check_same_thread=False)
        self._lock_timeout = timeout if wait_in_loop else 0.0
        self._connection = self._conn  # aiosqlite's "still open" attribute, read by the dialect
        self._tx = _RunNow()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._lock_timeout)

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await asyncio.to_thread(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def stop(self) -> None:
        self._conn.close()


def inline_connector(
    url: str, *, timeout: float = LOCK_TIMEOUT_S, wait_in_loop: bool = False
) -> Callable[[], Awaitable[InlineConnection]]:
    """An ``async_creator`` for ``create_async_engine``: inline connections to the SQLite file of ``url``."""
    path = make_url(url).database or ""

    async def connect() -> InlineConnection:
        return InlineConnection(path, timeout=timeout, wait_in_loop=wait_in_loop)

    return connect

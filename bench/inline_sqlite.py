"""Prototype, for measurement only: SQLite statements on the event loop, the COMMIT on a thread.

Salon's SQLite engine goes through aiosqlite, which runs *every* DB-API call
(cursor, execute, fetchall, close …) on a worker thread and hands the result
back to the event loop: a posted message costs about 80 such round trips, each a
thread wake-up and a loop wake-up, and on a busy 2-core machine each can wait
for a time slice. This module is a stand-in with aiosqlite's interface that
SQLAlchemy's ``sqlite+aiosqlite`` dialect accepts through ``async_creator``: every
call runs inline (a statement on a small local database takes microseconds)
except ``commit``, whose fsync (``synchronous=FULL``) runs on a thread so the
loop keeps serving.

It is not used by Salon. ``bench.fanout --salon-inline-sqlite`` starts Salon
through :func:`main`, which patches ``chat.store.db.create_async_engine`` before
``chat serve`` runs, to measure what the change would bring (see bench/FANOUT.md).

    .venv/bin/python -m bench.inline_sqlite serve --port 8000 --data-dir ./salon-data
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Generator
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._self().__await__()

    async def _self(self) -> InlineCursor:
        return self

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

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

    async def nextset(self) -> None:
        return None

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
    """Stands in for aiosqlite's request queue (SQLAlchemy sets ``isolation_level`` through it)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Any]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class InlineConnection:
    def __init__(self, path: str, **kwargs: Any) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, **kwargs)
        self._connection = self._conn  # aiosqlite's "still open" attribute
        self._tx = _RunNow()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        return InlineCursor(self._conn.execute(sql, parameters))

    async def commit(self) -> None:
        await asyncio.to_thread(self._conn.commit)  # the fsync: off the loop

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def stop(self) -> None:
        self._conn.close()


def patch_salon() -> None:
    """Make ``chat.store.db.Database`` build its SQLite engines on :class:`InlineConnection`."""
    import chat.store.db as db

    original = db.create_async_engine

    def create_async_engine(url: str, **kwargs: Any) -> Any:
        if not url.startswith("sqlite+aiosqlite:///"):
            return original(url, **kwargs)
        path = url.removeprefix("sqlite+aiosqlite:///")
        timeout = kwargs.pop("connect_args", {}).get("timeout", 30)

        async def connect() -> InlineConnection:
            return InlineConnection(path, timeout=timeout)

        return original(url, async_creator=connect, **kwargs)

    db.create_async_engine = create_async_engine  # type: ignore[assignment]


def main() -> None:
    patch_salon()
    from chat.cli import main as chat_main

    chat_main()


if __name__ == "__main__":
    main()

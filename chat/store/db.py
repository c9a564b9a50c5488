"""The Database: one engine, write transactions with an after-commit outbox.

* SQLite (the default): WAL mode, ``synchronous=FULL`` so an acknowledged
  commit survives ``kill -9`` and power loss; one writer at a time inside the
  process (an asyncio lock) and ``BEGIN IMMEDIATE`` across processes, so a
  read never has to be upgraded to a write lock (no SQLITE_BUSY deadlock).
* PostgreSQL through asyncpg: READ COMMITTED; event appends serialise on one
  advisory lock (see ``chat.channels.events``) so event ids commit in order.

Domain actions never commit. The caller owns the transaction::

    async with db.transaction() as session:
        posted = await post_message(session, actor, cmd)

``transaction()`` commits, then hands everything the actions put in the
outbox (``outbox(session).append(event)``) to ``after_commit``, the realtime
hub. A failure there is logged, never raised: the change is already durable
and clients will resume from the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger(__name__)

AfterCommit = Callable[[Sequence[Any]], Awaitable[None]]

_OUTBOX = "outbox"


def outbox(session: AsyncSession) -> list[Any]:
    """The list of things to publish once this session's transaction commits."""
    box: list[Any] = session.info.setdefault(_OUTBOX, [])
    return box


class Database:
    def __init__(self, url: str, *, after_commit: AfterCommit | None = None, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.after_commit = after_commit
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(
                url, echo=echo, connect_args={"timeout": 30}, pool_size=8, max_overflow=8
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=False)
        self._write_engine = self.engine.execution_options(salon_write=True)
        self._writes = async_sessionmaker(self._write_engine, expire_on_commit=False, autoflush=True)
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # One writer at a time on SQLite: the file has one write lock anyway, and
        # waiting here is cheaper than spinning on SQLITE_BUSY.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; commits on success, then publishes the outbox."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock:
            async with self._writes() as session:
                async with session.begin():
                    yield session
                box = session.info.pop(_OUTBOX, [])
            # Still under the SQLite writer lock: events are published in commit
            # (= id) order, so live delivery never shows event N+1 before N.
            if box and self.after_commit is not None:
                try:
                    await self.after_commit(box)
                except Exception:
                    log.exception("publishing %d committed events failed; clients will resume", len(box))

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (a deferred transaction on SQLite: a consistent snapshot)."""
        async with self._reads() as session:
            async with session.begin():
                yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take BEGIN out of the driver's hands: _sqlite_on_begin emits it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=30000",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("salon_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")

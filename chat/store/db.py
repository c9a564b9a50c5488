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

Failures of the storage itself become one retryable error here, for every
caller (:func:`storage_error`): a full disk (SQLite's ``SQLITE_FULL``, an
``ENOSPC``, PostgreSQL's ``disk_full``) raises ``Unavailable("storage_full")``,
a database that cannot be reached or dropped the connection (a restart)
raises ``Unavailable("database_unavailable")``; both answer 503 with
``Retry-After``. A lost PostgreSQL connection is invalidated by SQLAlchemy,
together with every pooled connection opened before it, so the server
reconnects on its own once the database is back; ``pool_pre_ping`` is left
off (one round trip per transaction): a restart fails only the transactions
in flight, and a post retried with its nonce is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from chat.errors import Unavailable

log = logging.getLogger(__name__)

AfterCommit = Callable[[Sequence[Any]], Awaitable[None]]

_OUTBOX = "outbox"

CONNECT_TIMEOUT_S = 10  # PostgreSQL: connecting gives up after this long
STORAGE_FULL_RETRY_S = 30  # Retry-After when the disk is full: space comes back by an operator's hand
DATABASE_RETRY_S = 5  # Retry-After when the database cannot be reached (a restart takes seconds)

# PostgreSQL SQLSTATEs: disk_full, and the server going away (class 08 is "connection exception")
_PG_DISK_FULL = "53100"
_PG_GONE = frozenset({"57P01", "57P02", "57P03"})  # admin_shutdown, crash_shutdown, cannot_connect_now


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
            self.engine = create_async_engine(
                url,
                echo=echo,
                pool_size=10,
                max_overflow=20,
                pool_pre_ping=False,
                # a database that does not answer fails the request instead of hanging it
                connect_args={"timeout": CONNECT_TIMEOUT_S},
            )
        self._write_engine = self.engine.execution_options(salon_write=True)
        self._writes = async_sessionmaker(self._write_engine, expire_on_commit=False, autoflush=True)
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # One writer at a time on SQLite: the file has one write lock anyway, and
        # waiting here is cheaper than spinning on SQLITE_BUSY.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        # The last write failed for lack of space (cleared by the next commit): for /health.
        self.storage_full = False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; commits on success, then publishes the outbox."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock:
            try:
                async with self._writes() as session:
                    async with session.begin():
                        yield session
                    box = session.info.pop(_OUTBOX, [])
            except Exception as exc:
                unavailable = storage_error(exc)
                if unavailable is None:
                    raise
                self.storage_full = unavailable.code == "storage_full"
                log.warning("write transaction failed: %s (%r)", unavailable.code, exc)
                raise unavailable from exc
            self.storage_full = False
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
        try:
            async with self._reads() as session:
                async with session.begin():
                    yield session
        except Exception as exc:
            unavailable = storage_error(exc)
            if unavailable is None:
                raise
            log.warning("read failed: %s (%r)", unavailable.code, exc)
            raise unavailable from exc

    async def ping(self, timeout_s: float = 5.0) -> bool:
        """Whether the database answers a trivial query within ``timeout_s`` seconds."""
        try:
            async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

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


def storage_error(exc: BaseException) -> Unavailable | None:
    """The retryable error for a failure of the storage itself, or None for anything else.

    Follows the exception's chain through storage exceptions only: when SQLite rolls a
    transaction back by itself on ``SQLITE_FULL``, the error that reaches here is the
    failed ``ROLLBACK`` that came after it.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and _is_storage_exception(current):
        seen.add(id(current))
        orig = current.orig if isinstance(current, DBAPIError) else current
        if _is_disk_full(orig):
            return Unavailable(
                "storage_full",
                "the server's storage is full; nothing was saved, retry later",
                retry_after=STORAGE_FULL_RETRY_S,
            )
        if (isinstance(current, DBAPIError) and current.connection_invalidated) or _is_connection_lost(orig):
            return Unavailable(
                "database_unavailable",
                "the database cannot be reached; retry (a post with the same nonce is stored once)",
                retry_after=DATABASE_RETRY_S,
            )
        current = current.__cause__ or current.__context__
    return None


def _is_storage_exception(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError | OSError | sqlite3.Error) or hasattr(exc, "sqlstate")


def _is_disk_full(exc: BaseException | None) -> bool:
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return getattr(exc, "sqlstate", None) == _PG_DISK_FULL


def _is_connection_lost(exc: BaseException | None) -> bool:
    if isinstance(exc, OSError):  # refused, reset, timed out (TimeoutError is an OSError)
        return exc.errno != errno.ENOSPC
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _PG_GONE)

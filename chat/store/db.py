"""The Database: read sessions, and write transactions with an after-commit outbox.

* SQLite (the default): WAL mode, ``synchronous=FULL`` so an acknowledged
  commit survives ``kill -9`` and power loss. Every write transaction runs on
  the process's one :class:`~chat.store.writer.Writer`: a single connection fed
  by a queue, ``BEGIN IMMEDIATE`` (so a read never has to be upgraded to a write
  lock, even against another process), several callers' transactions per
  COMMIT (group commit), statements on the event loop and only the fsync on a
  thread. Reads use a pool of connections of their own (WAL: they never wait
  for the writer), also on the event loop; ``read(threaded=True)`` runs a long
  scan on aiosqlite's thread.
* PostgreSQL through asyncpg: READ COMMITTED, a pool; event appends serialise on
  one advisory lock (see ``chat.domain.events``) so event ids commit in order.

Domain actions never commit. The caller owns the transaction::

    async with db.transaction() as session:
        posted = await post_message(session, actor, cmd)

or, on a hot path, hands the whole transaction to the writer (no task switch)::

    posted = await db.write(lambda session: post_message(session, actor, cmd))

Both commit, then hand everything the actions put in the outbox
(``outbox(session).append(event)``) to ``after_commit``, the realtime hub, in
commit order and outside any lock. A failure there is logged, never raised:
the change is already durable and clients will resume from the event log.

A PostgreSQL COMMIT that loses its connection is in doubt: the write is reported as
failed, yet it may be durable, and its events were never published. ``on_doubt``
(the hub) gets the first of their ids, and clients resume from the log.

Failures of the storage itself become one retryable error here, for every
caller (:func:`chat.store.faults.storage_error`): a full disk raises
``Unavailable("storage_full")``, a database that cannot be reached or dropped
the connection raises ``Unavailable("database_unavailable")``; both answer 503
with ``Retry-After``. A lost PostgreSQL connection is invalidated by
SQLAlchemy, together with every pooled connection opened before it, so the
server reconnects on its own once the database is back; ``pool_pre_ping`` is
left off (one round trip per transaction): a restart fails only the
transactions in flight, and a post retried with its nonce is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from chat.store.faults import storage_error
from chat.store.inline import inline_connector
from chat.store.writer import Writer, cached, forget, outbox, remembers, sqlite_on_connect, stage

__all__ = [
    "AfterCommit",
    "Database",
    "cached",
    "forget",
    "insert_or_skip",
    "outbox",
    "remembers",
    "stage",
    "storage_error",
    "table_of",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
AfterCommit = Callable[[Sequence[Any]], Awaitable[None]]

CONNECT_TIMEOUT_S = 10  # PostgreSQL: connecting gives up after this long


class Database:
    def __init__(self, url: str, *, after_commit: AfterCommit | None = None, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.after_commit = after_commit
        # Called with the first event id of a write whose COMMIT lost the connection (PostgreSQL).
        self.on_doubt: Callable[[int], None] | None = None
        self.writer: Writer | None = None
        if self.is_sqlite:
            # Reads run inline (a page is a few statements of microseconds each); a long scan asks
            # for a thread (read(threaded=True): aiosqlite), so it never stalls the loop.
            self.engine: AsyncEngine = create_async_engine(
                url, echo=echo, async_creator=inline_connector(url), pool_size=8, max_overflow=8
            )
            self._threaded_engine = create_async_engine(
                url, echo=echo, connect_args={"timeout": 30}, pool_size=2, max_overflow=6
            )
            for engine in (self.engine, self._threaded_engine):
                event.listen(engine.sync_engine, "connect", sqlite_on_connect)
                event.listen(engine.sync_engine, "begin", _deferred_begin)
            self.writer = Writer(url, publish=self._publish, echo=echo)
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
            self._threaded_engine = self.engine
        self._writes = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._threaded_reads = async_sessionmaker(self._threaded_engine, expire_on_commit=False, autoflush=False)
        # The last write failed for lack of space (cleared by the next commit): for /health.
        self.storage_full = False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; commits on success, then publishes the outbox."""
        with self._storage_errors("write transaction"):
            if self.writer is not None:
                async with self.writer.turn() as session:
                    yield session
            else:
                async with self._writes() as session:
                    committing = False
                    try:
                        async with session.begin():
                            yield session
                            committing = True
                    except Exception as exc:
                        if committing:
                            self._commit_failed(exc, session.info.get("outbox", []))
                        raise
                    box = session.info.pop("outbox", [])
                await self._publish(box)
        self.storage_full = False

    async def write(self, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``job(session)`` as one write transaction and return its result once committed."""
        if self.writer is None:
            async with self.transaction() as session:
                return await job(session)
        with self._storage_errors("write transaction"):
            result = await self.writer.run(job)
        self.storage_full = False
        return result

    @contextlib.asynccontextmanager
    async def read(self, *, threaded: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only session (a deferred transaction on SQLite: a consistent snapshot).

        On SQLite its statements run on the event loop: right for pages and lookups.
        ``threaded=True`` runs them on aiosqlite's thread instead, for reads whose cost
        grows with the data (full-text search, exports, audit verification).
        """
        sessions = self._threaded_reads if threaded else self._reads
        with self._storage_errors("read"):
            async with sessions() as session:
                async with session.begin():
                    yield session

    @contextlib.contextmanager
    def _storage_errors(self, what: str) -> Any:
        try:
            yield
        except Exception as exc:
            unavailable = storage_error(exc)
            if unavailable is None:
                raise
            if what != "read":
                self.storage_full = unavailable.code == "storage_full"
            log.warning("%s failed: %s (%r)", what, unavailable.code, exc)
            raise unavailable from exc

    def _commit_failed(self, exc: Exception, events: Sequence[Any]) -> None:
        """A COMMIT that lost its connection may still have been durable: its events, never
        published, are reported to ``on_doubt`` (the hub makes clients resume from the log)."""
        lost = storage_error(exc)
        if events and self.on_doubt is not None and lost is not None and lost.code == "database_unavailable":
            log.warning("the database went away during a COMMIT: events from %s may be committed", events[0].id)
            self.on_doubt(min(event.id for event in events))

    async def _publish(self, events: Sequence[Any]) -> None:
        if events and self.after_commit is not None:
            try:
                await self.after_commit(events)
            except Exception:
                log.exception("publishing %d committed events failed; clients will resume", len(events))

    async def ping(self, timeout_s: float = 5.0) -> bool:
        """Whether the database answers a trivial query within ``timeout_s`` seconds."""
        try:
            async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        if self.writer is not None:
            await self.writer.close()
        await self.engine.dispose()
        await self._threaded_engine.dispose()


def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class, for statements built once at import."""
    table: Table = model.__table__
    return table


def insert_or_skip(conn: AsyncConnection, table: Table, conflict: tuple[str, ...], returning: str) -> Insert:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING returning`` for the connection's database.

    A conflicting row inserts nothing and returns no row. Built once per database kind and table.
    """
    return _insert_or_skip(conn.dialect.name, table, conflict, returning)


@functools.cache
def _insert_or_skip(dialect: str, table: Table, conflict: tuple[str, ...], returning: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(table.c[returning])


def _deferred_begin(conn: Connection) -> None:
    # Reads: a deferred transaction (a snapshot that takes no write lock). Writes go to the writer.
    conn.exec_driver_sql("BEGIN")

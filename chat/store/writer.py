"""The SQLite writer: one connection, fed by a queue, that commits in groups.

Every write transaction on SQLite goes through one :class:`Writer` per process.
Callers queue a *turn*; the writer task takes every turn waiting (up to
``max_batch``), opens one ``BEGIN IMMEDIATE``, runs the turns one after the
other, each in its own ``SAVEPOINT`` (each stays atomic: a turn that fails is
rolled back alone and its caller gets its error), then runs one ``COMMIT`` for
the batch: one fsync however many turns it holds. Only then does it publish
the batch's events, in commit order, and complete every caller's future. While
a batch commits (the fsync runs on a thread, :mod:`chat.store.inline`), new
turns queue up and form the next batch, so the busier the server, the more
posts share an fsync. A batch of one turn runs without a savepoint.

A turn is either a coroutine function the writer runs itself (``run(job)``, no
task switch: the hot paths) or the body of an ``async with turn()`` block in
the caller's own task (everything else); either way it gets an
``AsyncSession`` bound to the writer's connection, whose statements run on the
event loop without a thread hand-off.

The writer also keeps what a write re-reads and only a write can change (chain
heads, a conversation's facts): :func:`cached`, :func:`stage`, :func:`forget`.
A turn stages its changes in its session; the writer merges them into the
shared cache when the turn succeeds and drops the whole cache when a batch
fails. It is sound because this writer sees every change first: a commit by
any other connection (another process, the CLI) changes SQLite's
``PRAGMA data_version``, which the writer reads at the start of every batch,
inside the write lock, and then forgets everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from chat.store.faults import storage_error
from chat.store.inline import inline_connector

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[T]]
Publish = Callable[[Sequence[Any]], Awaitable[None]]

MAX_BATCH = 64  # turns per transaction: bounds how long the first caller of a batch waits for its commit

_OUTBOX = "outbox"
_SHARED = "writer_cache"
_STAGED = "writer_staged"
_FORGOTTEN = object()


def outbox(session: AsyncSession) -> list[Any]:
    """The list of things to publish once this session's transaction commits."""
    box: list[Any] = session.info.setdefault(_OUTBOX, [])
    return box


def cached(session: AsyncSession, key: Hashable) -> Any | None:
    """What this transaction, or the writer before it, remembered under ``key`` (None: ask the database).

    Outside the SQLite writer (PostgreSQL, several processes) only what this
    transaction staged itself is remembered.
    """
    staged: dict[Hashable, Any] | None = session.info.get(_STAGED)
    if staged is not None and key in staged:
        value = staged[key]
        return None if value is _FORGOTTEN else value
    shared: dict[Hashable, Any] | None = session.info.get(_SHARED)
    return None if shared is None else shared.get(key)


def remembers(session: AsyncSession) -> bool:
    """Whether this transaction runs on the SQLite writer, which remembers between transactions."""
    return _SHARED in session.info


def stage(session: AsyncSession, key: Hashable, value: Any) -> None:
    """Remember ``value`` under ``key``: for the writer's later transactions once this one commits."""
    session.info.setdefault(_STAGED, {})[key] = value


def forget(session: AsyncSession, key: Hashable) -> None:
    """Stop remembering ``key`` (this transaction changed what it stood for)."""
    session.info.setdefault(_STAGED, {})[key] = _FORGOTTEN


@dataclass(eq=False)
class _Turn(Generic[T]):
    """One caller's place in the queue: a job the writer runs, or a body the caller runs."""

    job: Job[T] | None
    # a body's turn: the writer hands the session here, the caller answers with its outcome
    granted: asyncio.Future[AsyncSession] = field(default_factory=lambda: _future())
    body_done: asyncio.Future[BaseException | None] = field(default_factory=lambda: _future())
    committed: asyncio.Future[T] = field(default_factory=lambda: _future())
    outbox: list[Any] = field(default_factory=list)
    result: Any = None
    task: asyncio.Task[Any] | None = None  # the caller's

    @property
    def abandoned(self) -> bool:
        """The caller stopped waiting (cancelled) before its turn came."""
        return self.committed.done() or self.granted.done()

    def refuse(self, exc: BaseException) -> None:
        """Tell the caller its transaction failed (nothing of it was kept)."""
        if self.job is None and not self.granted.done():
            self.granted.set_exception(exc)
        elif not self.committed.done():
            self.committed.set_exception(exc)


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


class WriterClosed(RuntimeError):
    """The database was disposed of while a write waited."""


class Writer:
    """One SQLite connection that runs every write transaction of the process, in batches."""

    def __init__(
        self, url: str, *, publish: Publish | None = None, echo: bool = False, max_batch: int = MAX_BATCH
    ) -> None:
        # NullPool: the writer task holds its one connection for as long as it runs
        self.engine: AsyncEngine = create_async_engine(
            url, echo=echo, async_creator=inline_connector(url, wait_in_loop=True), poolclass=NullPool
        )
        event.listen(self.engine.sync_engine, "connect", sqlite_on_connect)
        event.listen(self.engine.sync_engine, "begin", _on_begin)
        self.publish = publish
        self.max_batch = max_batch
        self.batches = 0  # committed batches (tests read it: group commit means fewer commits than turns)
        self._cache: dict[Hashable, Any] = {}
        self._data_version: int | None = None
        self._queue: asyncio.Queue[_Turn[Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._holder: asyncio.Task[Any] | None = None  # the task running a turn's body now
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the callers' side ------------------------------------------------------------

    async def run(self, job: Job[T]) -> T:
        """Run ``job(session)`` in the next batch; returns its result once committed and published."""
        turn: _Turn[T] = _Turn(job)
        self._enqueue(turn)
        return await turn.committed

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[AsyncSession]:
        """A write transaction whose body runs in the caller's task; exits once committed."""
        turn: _Turn[None] = _Turn(None)
        self._enqueue(turn)
        try:
            session = await turn.granted
        except BaseException:
            if turn.granted.done() and not turn.granted.cancelled() and turn.granted.exception() is None:
                turn.body_done.set_result(asyncio.CancelledError())  # granted just as we were cancelled
            raise
        try:
            yield session
        except BaseException as exc:
            turn.body_done.set_result(exc)
            with contextlib.suppress(Exception):
                await asyncio.shield(turn.committed)  # the writer has rolled the body back
            raise
        turn.body_done.set_result(None)
        await turn.committed

    def _enqueue(self, turn: _Turn[Any]) -> None:
        current = asyncio.current_task()
        if current is not None and current in (self._task, self._holder):
            # the writer would wait for this transaction to start while it waits for the one running
            raise RuntimeError("a write transaction cannot be opened inside another one")
        turn.task = current
        loop = asyncio.get_running_loop()
        queue = self._queue
        if queue is None or self._task is None or self._task.done() or self._loop is not loop:
            # A new event loop (each test has its own) gets a new queue and task; the
            # connection is SQLAlchemy's to keep, and it is not tied to a loop.
            queue = self._queue = asyncio.Queue()
            self._loop = loop
            self._task = loop.create_task(self._serve(queue), name="sqlite-writer")
        queue.put_nowait(turn)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done() and self._loop is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.engine.dispose()

    # --- the writer's side ------------------------------------------------------------

    async def _serve(self, queue: asyncio.Queue[_Turn[Any]]) -> None:
        batch: list[_Turn[Any]] = []
        try:
            async with self.engine.connect() as conn:
                self._cache.clear()
                self._data_version = None  # PRAGMA data_version is per connection
                while True:
                    batch = [await queue.get()]
                    while len(batch) < self.max_batch and not queue.empty():
                        batch.append(queue.get_nowait())
                    await self._run_batch(conn, batch)
                    batch = []
        finally:
            closed = WriterClosed("the database is closed")
            for turn in batch + _drain(queue):
                turn.refuse(closed)

    async def _run_batch(self, conn: AsyncConnection, batch: list[_Turn[Any]]) -> None:
        live = [turn for turn in batch if not turn.abandoned]
        if not live:
            return
        try:
            await conn.begin()  # BEGIN IMMEDIATE (_on_begin)
            version = (await conn.exec_driver_sql("PRAGMA data_version")).scalar_one()
            if version != self._data_version:  # another connection committed: forget everything
                self._cache.clear()
                self._data_version = version
        except BaseException as exc:
            await self._abort(conn, live, exc)
            return
        single = len(live) == 1
        done: list[_Turn[Any]] = []
        for index, turn in enumerate(live):
            failure = await self._run_turn(conn, turn, savepoint=not single)
            if failure is None:
                done.append(turn)
                continue
            turn.refuse(failure)
            if single or not conn.in_transaction() or _is_fatal(failure):
                # the whole transaction is gone (or must go): nothing of this batch is kept
                await self._abort(conn, done + live[index + 1 :], failure)
                return
        try:
            await conn.commit()  # the fsync, on a thread
        except BaseException as exc:
            await self._abort(conn, done, exc)
            return
        self.batches += 1
        events = [item for turn in done for item in turn.outbox]
        if events and self.publish is not None:
            await self.publish(events)  # in commit order; it logs its own failures
        for turn in done:
            if not turn.committed.done():
                turn.committed.set_result(turn.result)

    async def _run_turn(self, conn: AsyncConnection, turn: _Turn[Any], *, savepoint: bool) -> BaseException | None:
        """Run one turn in its own savepoint; its failure, or None once its changes are kept."""
        session = AsyncSession(
            bind=conn,
            join_transaction_mode="create_savepoint" if savepoint else "rollback_only",
            expire_on_commit=False,
            autoflush=True,
        )
        session.info[_SHARED] = self._cache
        failure: BaseException | None = None
        try:
            await session.begin()
            if turn.job is not None:
                turn.result = await turn.job(session)
            else:
                turn.granted.set_result(session)
                self._holder = turn.task
                try:
                    failure = await turn.body_done
                finally:
                    self._holder = None
            if failure is None:
                await session.commit()  # flush, RELEASE SAVEPOINT
        except BaseException as exc:
            failure = exc
        if failure is not None:
            with contextlib.suppress(Exception):
                await session.rollback()  # ROLLBACK TO SAVEPOINT (the whole transaction when alone)
            await _close(session)
            return failure
        staged: dict[Hashable, Any] = session.info.pop(_STAGED, {})
        turn.outbox = session.info.pop(_OUTBOX, [])
        await _close(session)
        for key, value in staged.items():
            if value is _FORGOTTEN:
                self._cache.pop(key, None)
            else:
                self._cache[key] = value
        return None

    async def _abort(self, conn: AsyncConnection, turns: list[_Turn[Any]], exc: BaseException) -> None:
        """Roll the batch back; every turn of it fails with ``exc`` (nothing of it was kept).

        Re-raises ``exc`` when it is the writer's own cancellation (the database is closing)."""
        self._cache.clear()
        with contextlib.suppress(Exception):
            await conn.rollback()
        for turn in turns:
            turn.refuse(exc)
        task = asyncio.current_task()
        if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
            raise exc


def _is_fatal(exc: BaseException) -> bool:
    """A failure after which the batch cannot go on: a storage error (SQLite may have rolled
    everything back by itself), or the writer being cancelled."""
    return isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit) or storage_error(exc) is not None


def _drain(queue: asyncio.Queue[_Turn[Any]]) -> list[_Turn[Any]]:
    turns = []
    while not queue.empty():
        turns.append(queue.get_nowait())
    return turns


async def _close(session: AsyncSession) -> None:
    with contextlib.suppress(Exception):
        await session.close()


def sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Every SQLite connection: WAL, durable commits, foreign keys, and BEGIN in our hands."""
    dbapi_connection.isolation_level = None  # no implicit BEGIN: the "begin" events emit it
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON",
    ):  # the busy timeout is the connection's own (connect_args / InlineConnection)
        cursor.execute(pragma)
    cursor.close()


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")

"""Failures of the storage become one retryable error (``Unavailable``), raised by the Database.

SQLite's real ``SQLITE_FULL`` is produced here with ``PRAGMA max_page_count`` (no mount
needed); an unreachable PostgreSQL is a port nobody listens on. The full faults against a
server process (a filled tmpfs, a restarted cluster) are in ``tests/integration``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from chat.errors import NotFound, Unavailable
from chat.store.db import Database, outbox
from tests.conftest import PG_URL
from tests.integration.server import free_port


@pytest.fixture
async def sqlite(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'full.db'}")
    async with db.transaction() as s:
        await s.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"))
    return db


async def count(db: Database) -> int:
    async with db.read() as s:
        return int((await s.execute(text("SELECT count(*) FROM blobs"))).scalar_one())


async def test_sqlite_full_is_storage_full_and_changes_nothing(sqlite: Database) -> None:
    db = sqlite
    try:
        async with db.transaction() as s:
            await s.execute(text("INSERT INTO blobs (data) VALUES (zeroblob(1000))"))
        with pytest.raises(Unavailable) as refused:
            async with db.transaction() as s:
                pages = (await s.execute(text("PRAGMA page_count"))).scalar_one()
                await s.execute(text(f"PRAGMA max_page_count = {pages + 2}"))
                for _ in range(20):  # more than two pages
                    await s.execute(text("INSERT INTO blobs (data) VALUES (zeroblob(4000))"))
        error = refused.value
        assert (error.code, error.status) == ("storage_full", 503)
        assert error.retry_after > 0 and error.to_dict()["retry_after"] == error.retry_after
        assert db.storage_full
        assert await count(db) == 1  # reads go on; nothing of the failed transaction was kept

        async with db.transaction() as s:  # space comes back
            await s.execute(text("PRAGMA max_page_count = 1073741823"))
            await s.execute(text("INSERT INTO blobs (data) VALUES (zeroblob(4000))"))
        assert not db.storage_full
        assert await count(db) == 2
    finally:
        await db.dispose()


async def test_other_errors_pass_through_unchanged(sqlite: Database) -> None:
    db = sqlite
    try:
        with pytest.raises(NotFound):
            async with db.transaction():
                raise NotFound("message_not_found")
        with pytest.raises(Exception, match="no such table") as raised:
            async with db.read() as s:
                await s.execute(text("SELECT * FROM missing"))
        assert not isinstance(raised.value, Unavailable)
        assert not db.storage_full
    finally:
        await db.dispose()


async def test_an_unreachable_postgresql_is_database_unavailable_at_once() -> None:
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere")
    try:
        with pytest.raises(Unavailable) as refused:
            async with db.transaction() as s:
                await s.execute(text("SELECT 1"))
        assert (refused.value.code, refused.value.status) == ("database_unavailable", 503)
        with pytest.raises(Unavailable, match="database cannot be reached"):
            async with db.read() as s:
                await s.execute(text("SELECT 1"))
        assert not await db.ping()
    finally:
        await db.dispose()


@pytest.mark.postgresql
@pytest.mark.skipif(not PG_URL, reason="needs CHAT_TEST_DATABASE_URL (PostgreSQL)")
async def test_a_commit_that_loses_its_connection_reports_its_events_as_in_doubt() -> None:
    """The backend dies *during* COMMIT (a deferred trigger terminates it): the write is
    database_unavailable, and its events, maybe durable and never published, go to on_doubt."""
    db = Database(PG_URL)
    doubts: list[int] = []
    db.on_doubt = doubts.append
    try:
        async with db.transaction() as s:
            await s.execute(text("DROP TABLE IF EXISTS doubt_kid, doubt_parent"))
            await s.execute(text("CREATE TABLE doubt_parent (id int PRIMARY KEY)"))
            await s.execute(
                text("CREATE TABLE doubt_kid (p int REFERENCES doubt_parent (id) DEFERRABLE INITIALLY DEFERRED)")
            )
            await s.execute(
                text(
                    "CREATE OR REPLACE FUNCTION doubt_die() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$"
                )
            )
        with pytest.raises(NotFound):  # a body that fails before COMMIT is no doubt
            async with db.transaction() as s:
                outbox(s).append(SimpleNamespace(id=40))
                raise NotFound("before the commit")
        with pytest.raises(IntegrityError):  # a COMMIT refused by the database is no doubt either
            async with db.transaction() as s:
                await s.execute(text("INSERT INTO doubt_kid VALUES (99)"))
                outbox(s).append(SimpleNamespace(id=39))
        assert doubts == []
        with pytest.raises(Unavailable) as refused:
            async with db.transaction() as s:
                await s.execute(
                    text(
                        "CREATE CONSTRAINT TRIGGER die AFTER INSERT ON doubt_parent DEFERRABLE INITIALLY DEFERRED "
                        "FOR EACH ROW EXECUTE FUNCTION doubt_die()"
                    )
                )
                await s.execute(text("INSERT INTO doubt_parent VALUES (1)"))
                outbox(s).extend([SimpleNamespace(id=42), SimpleNamespace(id=41)])
        assert refused.value.code == "database_unavailable"
        assert doubts == [41]
    finally:
        async with db.transaction() as s:
            await s.execute(text("DROP TABLE IF EXISTS doubt_kid, doubt_parent"))
            await s.execute(text("DROP FUNCTION IF EXISTS doubt_die()"))
        await db.dispose()

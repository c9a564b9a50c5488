"""Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL; `chat migrate` is idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from chat.cli import main as chat_cli
from chat.store.migrate import current_revision, head_revision, upgrade
from chat.store.models import Base
from tests.conftest import BACKENDS, PG_URL


async def _reset_pg_database(url: str) -> None:
    """Create the database if needed, then empty it (the shared test database stays untouched)."""
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
        if not exists:
            await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    await admin.dispose()
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    url = make_url(PG_URL)
    fresh = url.set(database=f"{url.database}_migrations").render_as_string(hide_password=False)
    asyncio.run(_reset_pg_database(fresh))
    yield fresh


# Search objects that migration 0002 creates with raw SQL and the models do not describe.
NOT_IN_MODELS = ("messages_fts", "ix_messages_search")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (reflected and compare_to is None and name is not None and name.startswith(NOT_IN_MODELS))


def _schema_diff(connection: Connection) -> list[Any]:
    opts = {"compare_type": True, "include_object": include_object}
    context = MigrationContext.configure(connection, opts=opts)
    diff: list[Any] = compare_metadata(context, Base.metadata)
    return diff


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrations_build_exactly_the_models(empty_url: str) -> None:
    engine = create_async_engine(empty_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(_schema_diff)
            tables = await conn.run_sync(_tables)
        assert diff == [], f"the migrations and chat/store/models.py disagree: {diff}"
        assert {t for t in tables if not t.startswith(NOT_IN_MODELS)} == set(Base.metadata.tables) | {"alembic_version"}
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def test_chat_migrate_twice_is_idempotent(empty_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CHAT_DATABASE_URL": empty_url, "CHAT_DATA_DIR": str(tmp_path / "data")}
    first = runner.invoke(chat_cli, ["migrate"], env=env)
    assert first.exit_code == 0, first.output
    assert "database is up to date" in first.output

    async def state() -> tuple[str | None, list[Any]]:
        engine = create_async_engine(empty_url)
        try:
            async with engine.connect() as conn:
                diff = await conn.run_sync(_schema_diff)
            return await current_revision(engine), diff
        finally:
            await engine.dispose()

    after_first = asyncio.run(state())
    second = runner.invoke(chat_cli, ["migrate"], env=env)
    assert second.exit_code == 0, second.output
    assert asyncio.run(state()) == after_first == (head_revision(), [])


def test_chat_migrate_uses_the_data_dir_by_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "somewhere" / "data"
    result = CliRunner().invoke(chat_cli, ["migrate", "--data-dir", str(data_dir)], env={"CHAT_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert (data_dir / "salon.db").is_file()

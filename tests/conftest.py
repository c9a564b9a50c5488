"""Fixtures: a fresh database per test (SQLite, and PostgreSQL when configured), an app, a cast.

Database-backed fixtures are parametrised over the backends: ``sqlite`` always,
``postgresql`` when ``CHAT_TEST_DATABASE_URL`` is set (CI sets it, and fails if
those tests were skipped).
"""

from __future__ import annotations

import os

os.environ.setdefault("CHAT_ARGON2_PROFILE", "fast")  # cheap hashing in tests only; before chat imports

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from chat.accounts.tokens import issue_token
from chat.app import create_app, server_config
from chat.config import Settings
from chat.domain.actors import Actor
from chat.store.db import Database
from chat.store.migrate import upgrade
from chat.store.models import Base
from tests.factories import Cast, make_cast

PG_URL = os.environ.get("CHAT_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL", "")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgresql,
            pytest.mark.skipif(not PG_URL, reason="needs CHAT_TEST_DATABASE_URL (PostgreSQL)"),
        ],
    ),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "salon.db"

    async def build() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    """PostgreSQL schema rebuilt from the migrations once per test session."""

    async def build() -> None:
        engine = create_async_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return PG_URL


async def _truncate_pg(url: str) -> None:
    engine = create_async_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "salon.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
    else:
        url = request.getfixturevalue("pg_migrated")
        asyncio.run(_truncate_pg(url))
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # httpx's ASGITransport sends Host "testserver": allowed here, in the tests' settings only
    return Settings(database_url=database_url, data_dir=tmp_path, allowed_hosts=("testserver",))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    yield application
    await application.state.services.db.dispose()


@pytest.fixture
def db(app: Starlette) -> Database:
    database: Database = app.state.services.db
    return database


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def cast(db: Database) -> Cast:
    """alice (admin), maya (moderator), bob and carol (members), gus (guest), robot (alice's bot)."""
    return await make_cast(db)


@dataclass
class Live:
    """A real uvicorn server running the test's app in the test's event loop."""

    app: Starlette
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    async def token(self, actor: Actor) -> str:
        async with self.app.state.services.db.transaction() as s:
            return await issue_token(s, actor, "test")


@pytest.fixture
async def live(app: Starlette) -> AsyncIterator[Live]:
    settings: Settings = app.state.services.settings
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = server_config(app, settings, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield Live(app, port)
    server.should_exit = True
    await task

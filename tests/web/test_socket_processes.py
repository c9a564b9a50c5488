"""Two real servers sharing PostgreSQL and Redis: a change made through one reaches the sockets of the other.

Each server is its own app, hub and Redis connection behind its own uvicorn (both run in the
test's event loop). The token is revoked and the role changed over REST on the first; the
sockets they concern are open on the second. Skipped without PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
import uvicorn

from chat.app import create_app, server_config
from chat.config import Settings
from tests.channels.messaging_support import channel
from tests.conftest import PG_URL, REDIS_URL, Live, _truncate_pg
from tests.factories import Cast, make_cast
from tests.web.socket_support import Barrier, connector, kinds

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.redis,
    pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs CHAT_TEST_DATABASE_URL and CHAT_TEST_REDIS_URL"),
]


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield Live(app, port)
    finally:
        server.should_exit = True
        await task
        await app.state.services.db.dispose()


@pytest.fixture
async def two_servers(pg_migrated: str, tmp_path: Path) -> AsyncIterator[tuple[Live, Live, Cast]]:
    await _truncate_pg(pg_migrated)
    async with contextlib.AsyncExitStack() as stack:
        lives = []
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            settings = Settings(database_url=pg_migrated, broker_url=REDIS_URL, data_dir=tmp_path / name)
            lives.append(await stack.enter_async_context(serve(settings)))
        cast = await make_cast(lives[0].app.state.services.db)
        yield lives[0], lives[1], cast


async def test_a_revocation_and_a_demotion_on_one_server_reach_the_sockets_of_the_other(
    two_servers: tuple[Live, Live, Cast],
) -> None:
    one, two, cast = two_servers
    db = one.app.state.services.db
    group = await channel(db, cast.alice, "barrier", kind="private", members=[cast.maya, cast.bob])
    barrier = Barrier(db, group, cast.alice)
    admin = {"Authorization": f"Bearer {await one.token(cast.alice)}"}
    async with connector(two) as connect, httpx2.AsyncClient(base_url=one.base_url, headers=admin) as http:
        bob = await connect(cast.bob)
        maya = await connect(cast.maya)
        as_bob = {"Authorization": f"Bearer {connect.tokens[cast.bob.id]}"}
        [bobs_token] = (await http.get("/api/v1/tokens", headers=as_bob)).json()["tokens"]
        response = await http.delete(f"/api/v1/tokens/{bobs_token['id']}", headers=as_bob)
        assert response.status_code == 204
        assert await bob.wait_closed() == 4001 and bob.close_reason == "token revoked"

        async def invite() -> None:
            created = await http.post("/api/v1/invitations", json={"role": "member"})
            assert created.status_code == 201, created.text

        got = await barrier.observe([maya], invite)
        assert kinds(got["maya"]) == [("invitation.created", None)]  # staff, over there too
        response = await http.patch(f"/api/v1/users/{cast.maya.id}", json={"role": "member"})
        assert response.status_code == 200, response.text
        await maya.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "user.role_changed")
        got = await barrier.observe([maya], invite)
        assert kinds(got["maya"]) == [] and maya.close_code is None

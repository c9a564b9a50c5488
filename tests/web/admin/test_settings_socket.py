"""The author windows over the websocket: the same workspace settings, read on each edit or delete frame."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat.channels.settings import UpdateSettings, update_settings
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.admin.test_settings import age
from tests.web.socket_support import Connector, connector


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


async def test_edit_and_delete_frames_respect_the_windows_in_force(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    old, fresh = await post(db, cast.bob, sales, "old"), await post(db, cast.bob, sales, "fresh")
    await age(db, old.id, 3600)
    bob, maya = await connect(cast.bob), await connect(cast.maya)
    assert (await bob.request("edit", message=old.id, body="no window yet"))["type"] == "ack"
    async with db.transaction() as s:  # the change an admin makes on the settings page
        cmd = UpdateSettings(edit_window_s=600, delete_window_s=600)
        await update_settings(s, cast.alice, cmd, live.app.state.services.settings)
    before = await counts(db)
    edit = await bob.request("edit", message=old.id, body="too late")
    assert (edit["type"], edit["code"], edit["limit"]) == ("error", "edit_window_passed", 600)
    delete = await bob.request("delete", message=old.id)
    assert (delete["type"], delete["code"]) == ("error", "delete_window_passed")
    assert await counts(db) == before
    assert (await bob.request("edit", message=fresh.id, body="in time"))["type"] == "ack"
    assert (await maya.request("delete", message=old.id, reason="spam"))["type"] == "ack"  # moderators: no window
    async with db.read() as s:
        row = await s.get(models.Message, old.id)
        assert row is not None and row.deleted_by == cast.maya.id

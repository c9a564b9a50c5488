"""The notifier as the server runs it: started by the lifespan, poked after each commit, real clock."""

from __future__ import annotations

import asyncio

import httpx2
from starlette.applications import Starlette

from chat.config import Settings
from chat.mail.notifier import notifier_position
from chat.store.db import Database
from tests.channels.messaging_support import direct
from tests.conftest import Live
from tests.factories import Cast
from tests.mail.notify_support import ORIGIN, set_prefs, settings, sink, verify
from tests.mail.smtpd import SmtpSink

__all__ = ["settings", "sink"]  # fixtures


async def test_a_dm_posted_over_http_reaches_the_inbox_after_the_delay(
    app: Starlette, db: Database, cast: Cast, settings: Settings, sink: SmtpSink, live: Live
) -> None:
    async with asyncio.timeout(30):  # the lifespan's notifier made its cursor
        while await notifier_position(db) is None:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.05)
    address = await verify(db, cast.bob)
    await set_prefs(db, cast.bob, email_delay_s=1)
    dm = await direct(db, cast.alice, cast.bob)
    headers = {"Authorization": f"Bearer {await live.token(cast.alice)}"}
    async with httpx2.AsyncClient(base_url=live.base_url) as http:
        posted = await http.post(
            f"/api/v1/conversations/{dm}/messages", json={"body": "are you *there*?", "nonce": "n1"}, headers=headers
        )
    assert posted.status_code == 201, posted.text
    message_id = posted.json()["id"]
    [got] = await sink.wait_for(1, to=address, within_s=30)
    assert f"{ORIGIN}/#/c/{dm}/m/{message_id}" in got.text and "are you there?" in got.text

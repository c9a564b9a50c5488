"""Attachments over the websocket, against a real server: the ``post`` frame's ``attachments``, the ack and the
event every member receives carry the same list; a bad attachment is an error frame and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from chat.store.db import Database
from tests.channels.messaging_support import channel
from tests.conftest import Live
from tests.factories import Cast
from tests.files.support import file_counts, pdf_bytes, upload
from tests.web.socket_support import Connector, connector


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


async def test_a_post_frame_carries_attachments(db: Database, cast: Cast, live: Live, connect: Connector) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    bob, carol = await connect(cast.bob), await connect(cast.carol)
    async with httpx2.AsyncClient(base_url=live.base_url) as http:
        headers = {"Authorization": f"Bearer {await connect.token(cast.bob)}"}
        response = await upload(http, headers, pdf_bytes(pages=3), "minutes.pdf")
        assert response.status_code == 201, response.text
        uploaded = response.json()
        ack = await bob.request(
            "post", conversation=sales, topic="Q3", body="", nonce="w1", attachments=[uploaded["id"]]
        )
        assert ack["type"] == "ack", ack
        (attachment,) = ack["message"]["attachments"]
        assert (attachment["id"], attachment["content_type"], attachment["pages"]) == (
            uploaded["id"],
            "application/pdf",
            3,
        )
        event = await carol.wait_for(lambda f: f["type"] == "event" and f["event"]["kind"] == "message.posted")
        assert event["event"]["data"]["message"]["attachments"] == [attachment]
        carol_headers = {"Authorization": f"Bearer {await connect.token(cast.carol)}"}
        fetched = await http.get(attachment["url"], headers=carol_headers)
        assert fetched.status_code == 200 and fetched.headers["content-disposition"].startswith("attachment")

        before = await file_counts(db)
        again = await bob.request(
            "post", conversation=sales, topic="Q3", body="x", nonce="w2", attachments=[uploaded["id"]]
        )
        assert (again["type"], again["code"]) == ("error", "attachment_in_use")
        theirs = await carol.request(
            "post", conversation=sales, topic="Q3", body="x", nonce="w3", attachments=[uploaded["id"]]
        )
        assert (theirs["type"], theirs["code"]) == ("error", "attachment_not_found")
        assert await file_counts(db) == before

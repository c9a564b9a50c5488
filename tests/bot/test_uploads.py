"""The bot client uploads files and attaches them to a post, against the app served by uvicorn.

Another member fetches each file back from its ``url`` with her own token, and sees the
attachments in the ``message.posted`` event her own connection receives.
"""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request
from pathlib import Path

import pytest

from chat.bot import BotError
from chat.store.db import Database
from tests.bot.support import Watcher
from tests.bot.test_requests import bot_for, channel
from tests.conftest import Live
from tests.factories import Cast
from tests.files.support import png_bytes


def fetch(live: Live, token: str, url: str) -> bytes:
    headers = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(live.base_url + url, headers=headers)  # noqa: S310 - the test server
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the test server
        body: bytes = response.read()
        return body


async def test_a_bot_uploads_a_path_and_bytes_and_posts_them_in_one_message(
    live: Live, db: Database, cast: Cast, tmp_path: Path
) -> None:
    conv = await channel(db, cast, "robot")
    notes = tmp_path / "meeting notes.txt"
    notes.write_bytes(b"minutes of the meeting\n")
    image = png_bytes((40, 30))
    alice_token = await live.token(cast.alice)
    async with Watcher(live.base_url, alice_token) as alice, await bot_for(live, cast, "robot") as robot:
        first = await robot.upload(notes)
        second = await robot.upload(image, name="chart.png", content_type="image/png")
        assert isinstance(first, int) and isinstance(second, int) and first != second
        message = await robot.post(conv, "the notes and a chart", topic="files", attachments=[first, second])

        files = message["attachments"]
        assert [(f["id"], f["name"], f["size"]) for f in files] == [
            (first, "meeting notes.txt", len(notes.read_bytes())),
            (second, "chart.png", len(image)),
        ]
        assert files[0]["sha256"] == hashlib.sha256(notes.read_bytes()).hexdigest()
        assert files[1]["sha256"] == hashlib.sha256(image).hexdigest()
        assert files[1]["content_type"] == "image/png" and (files[1]["width"], files[1]["height"]) == (40, 30)
        assert files[1]["thumbnail_url"]

        # another member fetches both, and saw the same list live
        assert await asyncio.to_thread(fetch, live, alice_token, files[0]["url"]) == notes.read_bytes()
        assert await asyncio.to_thread(fetch, live, alice_token, files[1]["url"]) == image
        seen = await alice.wait_for(lambda m: m["id"] == message["id"])
        assert [f["id"] for f in seen["attachments"]] == [first, second]


async def test_a_message_of_files_only_and_the_errors_of_upload(live: Live, db: Database, cast: Cast) -> None:
    conv = await channel(db, cast, "robot")
    async with await bot_for(live, cast, "robot") as robot:
        upload = await robot.upload(b"%PDF-not-really", name="x.bin")
        message = await robot.post(conv, topic="files", attachments=[upload])
        assert [f["id"] for f in message["attachments"]] == [upload]

        with pytest.raises(ValueError, match="name="):
            await robot.upload(b"no name")
        with pytest.raises(BotError) as empty:
            await robot.upload(b"", name="empty.txt")
        assert 400 <= empty.value.data["status"] < 500
        history = await robot.api("GET", f"/conversations/{conv}/messages?limit=10")
        assert [m["id"] for m in history["messages"]] == [message["id"]]

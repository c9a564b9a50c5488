"""``GET /files/{id}/{name}`` and ``/thumb``: who may fetch (issue 12, point 5) and how it is served (point 3).

Access is checked per case over REST with a bearer token AND with a browser-style session cookie
(logged in through ``POST /api/v1/session``). Everyone refused gets exactly the response of an id that
does not exist.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

import httpx2
import pytest
from PIL import Image
from starlette.applications import Starlette

from chat.accounts.sessions import COOKIE_NAME
from chat.channels.commands import AddMember
from chat.channels.conversations import add_member, remove_member
from chat.channels.message_commands import DeleteMessage, UpdateTopic
from chat.channels.messages import delete_message
from chat.channels.topics import update_topic
from chat.domain.actors import Actor
from chat.store.db import Database
from tests.channels.messaging_support import channel
from tests.factories import Cast, password_of
from tests.files.support import API, jpeg_with_exif, pdf_bytes, png_bytes, upload
from tests.web.authhelp import as_user

Auth = Callable[[Actor], Awaitable[dict[str, str]]]


@pytest.fixture(params=["token", "cookie"])
def auth(request: pytest.FixtureRequest, client: httpx2.AsyncClient, app: Starlette) -> Auth:
    """Headers that authenticate as an actor: a bearer token, or a session cookie as a browser holds it."""

    async def token(actor: Actor) -> dict[str, str]:
        return await as_user(client, app, actor)

    async def cookie(actor: Actor) -> dict[str, str]:
        login = await client.post(
            f"{API}/session", json={"username": actor.username, "password": password_of(actor.username)}
        )
        assert login.status_code == 200, login.text
        secret = login.cookies[COOKIE_NAME]
        client.cookies.clear()  # each request carries only the cookie it is given
        return {"Cookie": f"{COOKIE_NAME}={secret}", "Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}

    return token if request.param == "token" else cookie


class Files:
    """Upload as someone, post it, fetch it as someone."""

    def __init__(self, client: httpx2.AsyncClient, auth: Auth) -> None:
        self.client, self.auth = client, auth
        self.headers: dict[int, dict[str, str]] = {}
        self.nonce = 0

    async def as_(self, actor: Actor) -> dict[str, str]:
        if actor.id not in self.headers:
            self.headers[actor.id] = await self.auth(actor)
        return self.headers[actor.id]

    async def upload(self, actor: Actor, data: bytes, name: str = "plan.png") -> dict[str, object]:
        response = await upload(self.client, await self.as_(actor), data, name)
        assert response.status_code == 201, response.text
        body: dict[str, object] = response.json()
        return body

    async def post(self, actor: Actor, conversation: int, upload_id: object, topic: str = "Q3") -> int:
        self.nonce += 1
        response = await self.client.post(
            f"{API}/conversations/{conversation}/messages",
            json={"topic": topic, "body": "see attached", "nonce": f"f{self.nonce}", "attachments": [upload_id]},
            headers=await self.as_(actor),
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def get(self, actor: Actor, url: object) -> httpx2.Response:
        return await self.client.get(str(url), headers=await self.as_(actor))

    async def status(self, actor: Actor, url: object) -> int:
        return (await self.get(actor, url)).status_code


@pytest.fixture
def files(client: httpx2.AsyncClient, auth: Auth) -> Files:
    return Files(client, auth)


async def assert_missing(files: Files, actor: Actor, url: object) -> None:
    """``actor`` gets exactly what an id that does not exist gets."""
    refused = await files.get(actor, url)
    missing = await files.get(actor, "/files/999999999/nothing.png")
    assert refused.status_code == missing.status_code == 404
    assert refused.content == missing.content and refused.headers["content-type"] == missing.headers["content-type"]


# --- access (point 5) --------------------------------------------------------------------------------


async def test_before_a_message_carries_it_only_the_uploader_fetches(files: Files, cast: Cast) -> None:
    up = await files.upload(cast.bob, png_bytes())
    assert await files.status(cast.bob, up["url"]) == 200
    assert await files.status(cast.bob, up["thumbnail_url"]) == 200
    for other in (cast.carol, cast.alice, cast.gus):
        await assert_missing(files, other, up["url"])
        await assert_missing(files, other, up["thumbnail_url"])


async def test_members_fetch_outsiders_and_removed_members_do_not(db: Database, files: Files, cast: Cast) -> None:
    deal = await channel(db, cast.alice, "deal", kind="private", members=[cast.bob, cast.carol])
    up = await files.upload(cast.bob, png_bytes())
    await files.post(cast.bob, deal, up["id"])
    for member in (cast.alice, cast.bob, cast.carol):
        assert await files.status(member, up["url"]) == 200
        assert await files.status(member, up["thumbnail_url"]) == 200
    for outsider in (cast.maya, cast.gus):  # a moderator who is not in the group, a guest
        await assert_missing(files, outsider, up["url"])
    async with db.transaction() as s:
        await remove_member(s, cast.alice, deal, cast.carol.id)
    await assert_missing(files, cast.carol, up["url"])
    await assert_missing(files, cast.carol, up["thumbnail_url"])


async def test_a_guest_fetches_only_in_channels_they_were_added_to(db: Database, files: Files, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    up = await files.upload(cast.bob, png_bytes())
    await files.post(cast.bob, sales, up["id"])
    assert await files.status(cast.carol, up["url"]) == 200  # a public channel: members may preview it
    await assert_missing(files, cast.gus, up["url"])  # a guest who was not invited
    async with db.transaction() as s:
        await add_member(s, cast.alice, sales, AddMember(user_id=cast.gus.id))
    assert await files.status(cast.gus, up["url"]) == 200


async def test_a_deleted_messages_files_are_no_ones(db: Database, files: Files, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    up = await files.upload(cast.bob, png_bytes())
    message = await files.post(cast.bob, sales, up["id"])
    assert await files.status(cast.carol, up["url"]) == 200
    async with db.transaction() as s:
        await delete_message(s, cast.bob, message, DeleteMessage(reason="wrong file"))
    for anyone in (cast.bob, cast.carol, cast.alice):  # the uploader included
        await assert_missing(files, anyone, up["url"])
        await assert_missing(files, anyone, up["thumbnail_url"])
    history = await files.get(cast.carol, f"{API}/conversations/{sales}/messages")
    assert history.json()["messages"][-1]["attachments"] == []


async def test_a_topic_moved_into_a_private_group_hides_its_files(db: Database, files: Files, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    deal = await channel(db, cast.alice, "deal", kind="private", members=[cast.bob])
    up = await files.upload(cast.alice, png_bytes())
    await files.post(cast.alice, sales, up["id"], topic="tender")
    assert await files.status(cast.carol, up["url"]) == 200
    async with db.transaction() as s:
        await update_topic(s, cast.alice, sales, UpdateTopic(topic="tender", move_to_conversation=deal))
    await assert_missing(files, cast.carol, up["url"])
    assert await files.status(cast.bob, up["url"]) == 200


async def test_without_credentials_a_file_is_refused(client: httpx2.AsyncClient, files: Files, cast: Cast) -> None:
    up = await files.upload(cast.bob, png_bytes())
    client.cookies.clear()
    assert (await client.get(str(up["url"]))).status_code == 401


# --- how files are served (point 3) ------------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("data", "name", "content_type", "inline"),
    [
        (png_bytes(), "chart.png", "image/png", True),
        (jpeg_with_exif(), "photo.jpg", "image/jpeg", True),
        (png_bytes(), "chart.html", "image/png", True),  # a PNG named like HTML is a PNG
        (HTML, "cat.png", "text/html", False),  # HTML named like a PNG is HTML, and never inline
        (SVG, "logo.svg", "image/svg+xml", False),
        (pdf_bytes(), "report.pdf", "application/pdf", False),
        (b"just words\n", "notes.txt", "text/plain", False),
    ],
)
async def test_only_raster_images_are_inline(
    files: Files, cast: Cast, data: bytes, name: str, content_type: str, inline: bool
) -> None:
    up = await files.upload(cast.bob, data, name)
    assert up["content_type"] == content_type  # sniffed; the client said application/octet-stream
    response = await files.get(cast.bob, up["url"])
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"].split(";")[0] == content_type
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("inline" if inline else "attachment"), disposition
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert response.headers["cache-control"] == "private, no-cache"


async def test_thumbnails_are_re_encoded_without_metadata(files: Files, cast: Cast) -> None:
    original = Image.open(io.BytesIO(jpeg_with_exif()))
    assert original.getexif()  # the upload has EXIF (camera make, GPS)
    up = await files.upload(cast.bob, jpeg_with_exif(), "photo.jpg")
    thumb = await files.get(cast.bob, up["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-disposition"].startswith("inline")
    image = Image.open(io.BytesIO(thumb.content))
    assert not image.getexif() and "exif" not in image.info
    assert b"SpyCam" not in thumb.content
    pdf = await files.upload(cast.bob, pdf_bytes(pages=3), "report.pdf")
    preview = await files.get(cast.bob, pdf["thumbnail_url"])
    assert preview.status_code == 200 and Image.open(io.BytesIO(preview.content)).format in ("JPEG", "PNG")


async def test_range_and_head(files: Files, cast: Cast) -> None:
    data = b"0123456789" * 100
    up = await files.upload(cast.bob, data, "digits.txt")
    headers = await files.as_(cast.bob)
    part = await files.client.get(str(up["url"]), headers={**headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    head = await files.client.head(str(up["url"]), headers=headers)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(data))

"""``POST /api/v1/uploads`` and posting with attachments: the contract, limits and bad input.

Every refusal leaves the tables (and the store) as they were.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette

from chat.config import Settings
from chat.store.db import Database
from tests.channels.messaging_support import channel
from tests.factories import Cast
from tests.files.support import API, file_counts, png_bytes, upload, upload_id
from tests.web.authhelp import as_user


@pytest.fixture
async def bob(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> dict[str, str]:
    return await as_user(client, app, cast.bob)


def blob_path(settings: Settings, sha256: str) -> Path:
    return settings.upload_path / sha256[:2] / sha256[2:4] / sha256


async def test_an_upload_is_stored_then_attached_and_shown(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette, settings: Settings, bob: dict[str, str]
) -> None:
    data = png_bytes()
    response = await upload(client, bob, data, name="Q3 chart.png", content_type="text/html")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "size", "content_type", "sha256", "url", "thumbnail_url"}
    assert (body["name"], body["size"], body["content_type"]) == ("Q3 chart.png", len(data), "image/png")
    assert body["url"] == f"/files/{body['id']}/Q3%20chart.png"
    assert body["thumbnail_url"] == f"/files/{body['id']}/thumb"
    assert blob_path(settings, body["sha256"]).read_bytes() == data  # on disk when the 201 arrived

    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    posted = await client.post(
        f"{API}/conversations/{sales}/messages",
        json={"topic": "Q3", "body": "", "nonce": "a1", "attachments": [body["id"]]},
        headers=bob,
    )
    assert posted.status_code == 201, posted.text
    (attachment,) = posted.json()["attachments"]
    assert attachment == {
        **{k: body[k] for k in ("id", "name", "size", "content_type", "sha256", "url", "thumbnail_url")},
        "width": 64,
        "height": 48,
        "pages": None,
    }
    carol = await as_user(client, app, cast.carol)
    history = await client.get(f"{API}/conversations/{sales}/messages", headers=carol)
    assert history.json()["messages"][-1]["attachments"] == [attachment]
    fetched = await client.get(attachment["url"], headers=carol)
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers["content-disposition"].startswith("inline")
    assert fetched.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    thumb = await client.get(attachment["thumbnail_url"], headers=carol)
    assert thumb.status_code == 200 and thumb.headers["content-type"] in ("image/png", "image/jpeg")

    outsider = await as_user(client, app, cast.gus)
    hidden = await client.get(attachment["url"], headers=outsider)
    missing = await client.get(f"/files/{attachment['id'] + 1000}/x.png", headers=outsider)
    assert hidden.status_code == missing.status_code == 404 and hidden.content == missing.content


async def test_identical_files_are_stored_once(
    db: Database, client: httpx2.AsyncClient, settings: Settings, bob: dict[str, str]
) -> None:
    data = png_bytes()
    first, second = await upload_id(client, bob, data, "a.png"), await upload_id(client, bob, data, "b.png")
    assert first != second
    root = settings.upload_path
    stored = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"]
    assert len(stored) == 2  # the file and its thumbnail, once each
    assert (await file_counts(db))["uploads"] == 2

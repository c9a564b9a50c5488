"""``GET /api/v1/me/storage``: the total size of your uploads (what the quota counts) and the quota."""

from __future__ import annotations

import dataclasses

import httpx2
import pytest
from starlette.applications import Starlette

from chat.config import Settings
from tests.factories import Cast
from tests.files.support import API, pdf_bytes, png_bytes, upload_id
from tests.web.authhelp import as_user


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, upload_quota_bytes=10_000_000)


async def test_storage_counts_your_own_uploads_against_the_quota(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast
) -> None:
    bob, carol = await as_user(client, app, cast.bob), await as_user(client, app, cast.carol)
    empty = await client.get(f"{API}/me/storage", headers=bob)
    assert empty.status_code == 200
    assert empty.json() == {"used_bytes": 0, "quota_bytes": 10_000_000}

    image, document = png_bytes(), pdf_bytes()
    await upload_id(client, bob, image, "a.png")
    await upload_id(client, bob, document, "b.pdf")
    await upload_id(client, carol, png_bytes(color=(1, 2, 3)), "c.png")
    mine = await client.get(f"{API}/me/storage", headers=bob)
    assert mine.json() == {"used_bytes": len(image) + len(document), "quota_bytes": 10_000_000}


async def test_storage_needs_a_session(client: httpx2.AsyncClient) -> None:
    response = await client.get(f"{API}/me/storage")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"

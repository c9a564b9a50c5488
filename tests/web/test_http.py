"""Edge cases every REST route shares: ids no column can hold, malformed JSON, oversized bodies."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette

from tests.factories import Cast
from tests.web.authhelp import as_user


async def test_an_id_beyond_any_column_is_not_found(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    headers = await as_user(client, app, cast.bob)
    for path in ("/api/v1/conversations/99999999999999999999", "/api/v1/messages/9223372036854775808"):
        r = await client.get(path, headers=headers)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"


async def test_a_body_over_the_limit_is_refused_before_parsing(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast
) -> None:
    headers = await as_user(client, app, cast.bob)
    r = await client.post("/api/v1/conversations", content=b"{" + b" " * 70_000 + b"}", headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = await client.post("/api/v1/conversations", content=b"{not json", headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"

"""``GET /api/v1/search``: the shape of a page, paging, access, and 422/404 on bad input."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from chat.store.db import Database
from tests.channels.test_search import World, build_world, post
from tests.factories import Cast
from tests.web.authhelp import as_user

API = "/api/v1"


@pytest.fixture
async def world(db: Database, cast: Cast) -> World:
    return await build_world(db, cast)


@pytest.fixture
async def headers(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> dict[str, dict[str, str]]:
    return {name: await as_user(client, app, getattr(cast, name)) for name in ("alice", "bob", "carol", "gus")}


async def search(client: httpx2.AsyncClient, auth: dict[str, str], **params: Any) -> httpx2.Response:
    return await client.get(f"{API}/search", params=params, headers=auth)


async def test_needs_authentication(client: httpx2.AsyncClient, cast: Cast) -> None:
    response = await client.get(f"{API}/search", params={"q": "x"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_a_page_of_hits(
    client: httpx2.AsyncClient, db: Database, cast: Cast, world: World, headers: dict[str, dict[str, str]]
) -> None:
    message = await post(db, cast.bob, world.sales, "Quarterly **budget** is out", topic="Budget 2025")
    response = await search(client, headers["carol"], q="budget from:bob")
    assert response.status_code == 200
    body = response.json()
    assert body["has_more"] is False and body["next_before"] is None
    (hit,) = body["hits"]
    assert hit["id"] == message
    assert hit["conversation"] == world.sales and hit["conversation_name"] == "Sales"
    assert hit["conversation_kind"] == "public"
    assert hit["topic"] == "Budget 2025" and hit["topic_html"] == "<mark>Budget</mark> 2025"
    assert (hit["author"], hit["author_username"], hit["author_display_name"]) == (cast.bob.id, "bob", "Bob")
    assert "<strong><mark>budget</mark></strong>" in hit["html"]
    assert hit["created_at"].startswith("20") and hit["edited_at"] is None


async def test_pages_with_before(
    client: httpx2.AsyncClient, db: Database, cast: Cast, world: World, headers: dict[str, dict[str, str]]
) -> None:
    posted = [await post(db, cast.bob, world.sales, f"weekly report {i}") for i in range(3)]
    first = (await search(client, headers["bob"], q="report", limit=2)).json()
    assert [h["id"] for h in first["hits"]] == posted[:0:-1] and first["has_more"] is True
    second = (await search(client, headers["bob"], q="report", limit=2, before=first["next_before"])).json()
    assert [h["id"] for h in second["hits"]] == posted[:1] and second["has_more"] is False


async def test_access_over_http(
    client: httpx2.AsyncClient, db: Database, cast: Cast, world: World, headers: dict[str, dict[str, str]]
) -> None:
    private = await post(db, cast.bob, world.secret, "merger plans")
    shared = await post(db, cast.bob, world.partners, "merger rumours")
    assert [h["id"] for h in (await search(client, headers["bob"], q="merger")).json()["hits"]] == [shared, private]
    assert [h["id"] for h in (await search(client, headers["carol"], q="merger")).json()["hits"]] == []
    assert [h["id"] for h in (await search(client, headers["gus"], q="merger")).json()["hits"]] == [shared]


async def test_invisible_conversation_is_the_same_404_as_a_missing_one(
    client: httpx2.AsyncClient, cast: Cast, world: World, headers: dict[str, dict[str, str]]
) -> None:
    hidden = await search(client, headers["carol"], q=f"in:{world.secret}")
    missing = await search(client, headers["carol"], q="in:999999")
    by_name = await search(client, headers["carol"], q="in:secret")
    assert hidden.status_code == missing.status_code == by_name.status_code == 404
    assert hidden.json() == missing.json() == by_name.json()
    assert hidden.json()["error"]["code"] == "conversation_not_found"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": "budget before:notadate"}, "bad_query"),
        ({"q": "after:2024-13-01"}, "bad_query"),
        ({"q": "has:video"}, "bad_query"),
        ({"q": "is:unread"}, "bad_query"),
        ({"q": "in:a in:b"}, "bad_query"),
        ({"q": "x" * 501}, "bad_query"),
        ({"q": "x", "limit": "0"}, "out_of_range"),
        ({"q": "x", "limit": "101"}, "out_of_range"),
        ({"q": "x", "limit": "ten"}, "wrong_type"),
        ({"q": "x", "before": "abc"}, "wrong_type"),
        ({"q": "x", "before": "0"}, "out_of_range"),
    ],
)
async def test_bad_input_is_422(
    client: httpx2.AsyncClient, cast: Cast, headers: dict[str, dict[str, str]], params: dict[str, str], code: str
) -> None:
    response = await search(client, headers["bob"], **params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


async def test_empty_query_lists_visible_messages(
    client: httpx2.AsyncClient, db: Database, cast: Cast, world: World, headers: dict[str, dict[str, str]]
) -> None:
    mine = await post(db, cast.bob, world.dm, "hello carol", topic="")
    await post(db, cast.alice, world.general, "hello everyone")
    response = await client.get(f"{API}/search", headers=headers["carol"])
    assert [h["id"] for h in response.json()["hits"]] == [mine]


async def test_documented_in_openapi(client: httpx2.AsyncClient) -> None:
    document = (await client.get(f"{API}/openapi.json")).json()
    operation = document["paths"][f"{API}/search"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"q", "limit", "before"}
    assert "SearchResults" in document["components"]["schemas"]

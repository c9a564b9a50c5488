"""Every HTTP response carries the security headers: pages, JSON errors, 405s, 500s, static files and
the refusals of a websocket handshake, over a real uvicorn server.

``SalonApp.build_middleware_stack`` wraps the whole Starlette stack (ServerErrorMiddleware
included) in ``SecurityHeadersMiddleware``, so even the 500 page Starlette writes itself has them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.exceptions import InvalidStatus

from chat.config import Settings
from chat.web.security import SECURITY_HEADERS
from tests.conftest import Live
from tests.factories import Cast

API = "/api/v1"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, ws_max_per_user=1)


async def boom(request: Request) -> Response:
    raise RuntimeError("an endpoint that fails (test only)")


@pytest.fixture
async def http(app: Starlette, live: Live) -> AsyncIterator[httpx2.AsyncClient]:
    app.router.routes.append(Route("/test-only/boom", boom))  # in this test's app only, never in production
    async with httpx2.AsyncClient(base_url=live.base_url) as client:
        yield client


def assert_secured(status: int, headers: httpx2.Headers | dict[str, str], what: str) -> None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, value in SECURITY_HEADERS:
        assert lowered.get(name) == value, f"{what} ({status}): {name} is {lowered.get(name)!r}"


async def test_a_page_has_the_headers(http: httpx2.AsyncClient, cast: Cast) -> None:
    response = await http.get("/login")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert_secured(response.status_code, response.headers, "GET /login")


async def test_json_404s_have_the_headers(http: httpx2.AsyncClient, live: Live, cast: Cast) -> None:
    no_route = await http.get(f"{API}/no-such-route")
    assert no_route.status_code == 404 and no_route.json()["error"]["code"] == "not_found"
    assert_secured(no_route.status_code, no_route.headers, "no route")
    bearer = {"Authorization": f"Bearer {await live.token(cast.bob)}"}
    missing = await http.get(f"{API}/conversations/999999", headers=bearer)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "conversation_not_found"
    assert_secured(missing.status_code, missing.headers, "no conversation")


async def test_a_405_has_the_headers(http: httpx2.AsyncClient) -> None:
    response = await http.delete(f"{API}/openapi.json")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert_secured(response.status_code, response.headers, "DELETE openapi.json")


async def test_a_500_has_the_headers(http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    response = await http.get("/test-only/boom")
    assert response.status_code == 500
    assert_secured(response.status_code, response.headers, "an endpoint that raises")


async def test_static_files_have_the_headers(http: httpx2.AsyncClient) -> None:
    found = await http.get("/static/css/base.css")
    assert found.status_code == 200 and found.headers["content-type"].startswith("text/css")
    assert_secured(found.status_code, found.headers, "a static file")
    missing = await http.get("/static/no-such-file.js")
    assert missing.status_code == 404
    assert_secured(missing.status_code, missing.headers, "a missing static file")


async def refused(live: Live, headers: dict[str, str]) -> tuple[int, httpx2.Headers | dict[str, str], bytes]:
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(live.ws_url, additional_headers=headers):
            pass  # pragma: no cover - the handshake is refused
    response = caught.value.response
    return response.status_code, dict(response.headers.raw_items()), response.body or b""


async def test_refused_websocket_handshakes_have_the_headers(live: Live, cast: Cast) -> None:
    status, headers, body = await refused(live, {"Origin": "https://evil.example"})
    assert status == 403 and b"origin_not_allowed" in body
    assert_secured(status, headers, "websocket, foreign origin")

    status, headers, body = await refused(live, {"Origin": "http://["})  # urlsplit cannot read it
    assert status == 403 and b"origin_not_allowed" in body

    status, headers, body = await refused(live, {"Authorization": "Bearer salon_not-a-token"})
    assert status == 401 and b"not_authenticated" in body
    assert_secured(status, headers, "websocket, bad token")

    bearer = {"Authorization": f"Bearer {await live.token(cast.bob)}"}
    async with websockets.connect(live.ws_url, additional_headers=bearer) as first:
        await first.recv()  # hello: bob's one connection (ws_max_per_user=1) is open
        status, headers, body = await refused(live, bearer)
    assert status == 429 and b"too_many_connections" in body
    assert_secured(status, headers, "websocket, too many connections")

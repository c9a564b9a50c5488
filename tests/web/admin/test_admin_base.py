"""The moderation pages' frame: who gets in, where /admin leads, the link in the chat UI."""

from __future__ import annotations

import httpx2

from tests.factories import Cast
from tests.web.test_pages import log_in


async def test_signed_out_visitors_are_sent_to_login(client: httpx2.AsyncClient, cast: Cast) -> None:
    response = await client.get("/admin")
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/admin")


async def test_members_and_guests_get_a_404(client: httpx2.AsyncClient, cast: Cast) -> None:
    for name in ("bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        response = await client.get("/admin")
        assert response.status_code == 404, name
        assert 'data-code="not_found"' in response.text
        assert "admin-nav" not in response.text


async def test_staff_land_on_their_first_section(client: httpx2.AsyncClient, cast: Cast) -> None:
    for name in ("alice", "maya"):
        client.cookies.clear()
        await log_in(client, name)
        response = await client.get("/admin")
        assert (response.status_code, response.headers["location"]) == (303, "/admin/reports"), name


async def test_the_chat_menu_links_to_administration_for_staff_only(client: httpx2.AsyncClient, cast: Cast) -> None:
    seen = {}
    for name in ("alice", "maya", "bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        seen[name] = 'id="admin-link"' in (await client.get("/")).text
    assert seen == {"alice": True, "maya": True, "bob": False, "gus": False}

"""/admin/retention and its API: admins set retention and legal holds; every change is one staff event."""

from __future__ import annotations

import httpx2
from sqlalchemy import select
from starlette.applications import Starlette

from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.test_pages import assert_no_inline_code, log_in


async def conversation_row(db: Database, conversation_id: int) -> tuple[int | None, bool]:
    async with db.read() as s:
        found = await s.get(models.Conversation, conversation_id)
        assert found is not None
        return found.retention_days, found.legal_hold


async def test_only_admins_see_the_page(client: httpx2.AsyncClient, cast: Cast) -> None:
    signed_out = await client.get("/admin/retention")
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/login?next=/admin/retention")
    for name in ("maya", "bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        assert (await client.get("/admin/retention")).status_code == 404, name


async def test_the_page_lists_every_conversation_without_content(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    general = await channel(db, cast.bob, "general")
    board = await channel(db, cast.bob, "board", kind="private", members=[cast.carol])  # alice is not in it
    dm = await direct(db, cast.bob, cast.carol)
    await post(db, cast.bob, board, "the secret figures", topic="budget")
    alice = await as_user(client, app, cast.alice)
    await client.put(f"/api/v1/conversations/{board}/retention", json={"days": 90, "legal_hold": True}, headers=alice)
    await client.put(f"/api/v1/users/{cast.carol.id}/legal-hold", json={"on": True}, headers=alice)
    await log_in(client, "alice")
    page = await client.get("/admin/retention")
    assert page.status_code == 200
    html = page.text
    assert_no_inline_code(html)
    assert "the secret figures" not in html and "budget" not in html
    for cid in (general, board, dm):
        assert f'data-api="PUT /conversations/{cid}/retention"' in html
    assert f"Direct conversation #{dm}" in html
    assert f'id="days-{board}" class="admin-days" name="days"' in html and 'value="90"' in html
    assert "On legal hold" in html
    assert f'data-api="PUT /users/{cast.carol.id}/legal-hold" data-confirm="admin.retention.confirm_lift"' in html
    assert '<a href="/admin/retention" aria-current="page">' in html

    found = await client.get("/admin/retention", params={"user": "bo"})
    assert f'data-api="PUT /users/{cast.bob.id}/legal-hold"' in found.text
    assert '<input type="checkbox" name="on" checked hidden>' in found.text

    client.cookies.set("salon_lang", "fr")
    french = await client.get("/admin/retention")
    assert "Conservation légale" in french.text and f"Conversation directe n° {dm}" in french.text


async def test_setting_a_conversation_s_retention(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    board = await channel(db, cast.bob, "board", kind="private")
    alice = await as_user(client, app, cast.alice)
    before = await last_event_id(db)
    response = await client.put(
        f"/api/v1/conversations/{board}/retention", json={"days": 30, "legal_hold": True}, headers=alice
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "conversation": board,
        "days": 30,
        "effective_days": 30,
        "legal_hold": True,
        "changed": True,
    }
    assert await conversation_row(db, board) == (30, True)
    (event,) = await events_after(db, before)
    assert (event.kind, event.chain, event.audience, event.actor_id) == (
        "retention.conversation_changed",
        "system",
        "admins",
        cast.alice.id,
    )
    assert event.payload == {
        "conversation": board,
        "days": 30,
        "legal_hold": True,
        "previous": {"days": None, "legal_hold": False},
    }
    same = await client.put(
        f"/api/v1/conversations/{board}/retention", json={"days": 30, "legal_hold": True}, headers=alice
    )
    assert same.json()["changed"] is False and len(await events_after(db, before)) == 1
    back = await client.put(
        f"/api/v1/conversations/{board}/retention", json={"days": None, "legal_hold": False}, headers=alice
    )
    assert back.json()["days"] is None and await conversation_row(db, board) == (None, False)


async def test_bad_requests_change_nothing(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    general = await channel(db, cast.bob, "general")
    alice = await as_user(client, app, cast.alice)
    maya = await as_user(client, app, cast.maya)
    before = await counts(db)
    here = f"/api/v1/conversations/{general}/retention"
    cases = [
        (alice, here, {"days": -1, "legal_hold": False}, 422, "out_of_range"),
        (
            alice,
            f"/api/v1/conversations/{general}/retention",
            {"days": 36501, "legal_hold": False},
            422,
            "out_of_range",
        ),
        (alice, here, {"days": "7", "legal_hold": False}, 422, "wrong_type"),
        (alice, here, {"days": 7}, 422, "missing_field"),
        (alice, here, {"days": 7, "legal_hold": 1}, 422, "wrong_type"),
        (alice, here, {"days": 7, "hold": True}, 422, "unknown_field"),
        (
            alice,
            "/api/v1/conversations/999999/retention",
            {"days": 7, "legal_hold": False},
            404,
            "conversation_not_found",
        ),
        (maya, here, {"days": 7, "legal_hold": True}, 403, "admin_required"),
        (maya, f"/api/v1/users/{cast.bob.id}/legal-hold", {"on": True}, 403, "admin_required"),
        (alice, "/api/v1/users/999999/legal-hold", {"on": True}, 404, "user_not_found"),
        (alice, f"/api/v1/users/{cast.bob.id}/legal-hold", {"on": "yes"}, 422, "wrong_type"),
    ]
    for headers, path, body, status, code in cases:
        response = await client.put(path, json=body, headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (path, body)
    assert await counts(db) == before
    assert await conversation_row(db, general) == (None, False)
    assert (await client.get("/api/v1/retention", headers=maya)).status_code == 403


async def test_user_holds_and_the_overview(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    for i in range(3):
        await channel(db, cast.bob, f"room {i}")
    alice = await as_user(client, app, cast.alice)
    before = await last_event_id(db)
    placed = await client.put(f"/api/v1/users/{cast.bob.id}/legal-hold", json={"on": True}, headers=alice)
    assert placed.json() == {"user": cast.bob.id, "legal_hold": True, "changed": True}
    (event,) = await events_after(db, before)
    assert (event.kind, event.audience, event.subject_id, event.payload) == (
        "retention.user_hold_changed",
        "admins",
        None,
        {"user": cast.bob.id, "legal_hold": True},
    )
    async with db.read() as s:
        assert await s.scalar(select(models.User.legal_hold).where(models.User.id == cast.bob.id)) is True
    overview = (await client.get("/api/v1/retention", headers=alice)).json()
    assert overview["workspace_days"] == 0 and overview["has_more"] is False
    assert [c["name"] for c in overview["conversations"]] == ["room 0", "room 1", "room 2"]
    assert [u["username"] for u in overview["held_users"]] == ["bob"]
    first = overview["conversations"][0]["id"]
    rest = (await client.get("/api/v1/retention", params={"after": first}, headers=alice)).json()
    assert [c["name"] for c in rest["conversations"]] == ["room 1", "room 2"]
    lifted = await client.put(f"/api/v1/users/{cast.bob.id}/legal-hold", json={"on": False}, headers=alice)
    assert lifted.json()["legal_hold"] is False
    assert (await client.get("/api/v1/retention", headers=alice)).json()["held_users"] == []

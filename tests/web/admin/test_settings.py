"""Workspace settings: GET/PATCH /api/v1/settings, their event, their effect on the next request, the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, update

from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.web.test_api_conversations import Caller
from tests.web.test_pages import assert_no_inline_code, log_in


async def settings_events(db: Database) -> list[dict[str, Any]]:
    async with db.read() as s:
        rows = await s.scalars(
            select(models.Event).where(models.Event.kind == "workspace.settings_changed").order_by(models.Event.id)
        )
        return [{"chain": r.chain, "audience": r.audience, "actor": r.actor_id, **r.payload} for r in rows]


async def stored(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        return dict((await s.execute(select(models.WorkspaceSetting.key, models.WorkspaceSetting.value))).all())


async def test_an_admin_reads_the_defaults_then_changes_them(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    shown = await who["alice"].get("/settings")
    assert shown.status_code == 200
    assert shown.json() == {
        "registration_mode": "invite",  # invitation only by default
        "allowed_domains": [],
        "channel_creation": "members",
        "invite_policy": "members",
        "edit_window_s": 0,
        "delete_window_s": 0,
        "meeting_base_url": "https://meet.jit.si",
        "retention_days": 0,
    }
    changed = await who["alice"].patch(
        "/settings",
        {
            "registration_mode": "closed",
            "allowed_domains": ["Example.com", "@example.org"],
            "edit_window_s": 600,
            "meeting_base_url": "https://jitsi.example.com",
            "channel_creation": "members",  # unchanged: not in the event
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["registration_mode"] == "closed" and body["edit_window_s"] == 600
    assert body["allowed_domains"] == ["example.com", "example.org"]
    assert (await who["alice"].get("/settings")).json() == body
    (event,) = await settings_events(db)
    assert (event["chain"], event["audience"], event["actor"]) == ("system", "admins", cast.alice.id)
    assert event["changes"] == {
        "registration_mode": {"old": "invite", "new": "closed"},
        "allowed_domains": {"old": [], "new": ["example.com", "example.org"]},
        "edit_window_s": {"old": 0, "new": 600},
        "meeting_base_url": {"old": "https://meet.jit.si", "new": "https://jitsi.example.com"},
    }
    again = await who["alice"].patch("/settings", {"edit_window_s": 600})
    assert again.status_code == 200 and len(await settings_events(db)) == 1  # nothing changed: no event


@pytest.mark.parametrize("name", ["maya", "bob", "gus", "robot"])
async def test_only_admins_read_or_change_settings(who: dict[str, Caller], db: Database, name: str) -> None:
    assert (await who[name].get("/settings")).json()["error"]["code"] == "admin_required"
    refused = await who[name].patch("/settings", {"channel_creation": "admins"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_required")
    assert await stored(db) == {} and await settings_events(db) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "nothing_to_change"),
        ({"registration_mode": "domains"}, "email_verification_unavailable"),
        ({"registration_mode": "everyone"}, "wrong_value"),
        ({"channel_creation": "guests"}, "wrong_value"),
        ({"invite_policy": True}, "wrong_value"),
        ({"edit_window_s": -1}, "out_of_range"),
        ({"delete_window_s": "10"}, "wrong_type"),
        ({"retention_days": 10**6}, "out_of_range"),
        ({"meeting_base_url": "http://meet.example.com"}, "bad_url"),
        ({"meeting_base_url": "https://user@meet.example.com"}, "bad_url"),
        ({"meeting_base_url": "javascript:alert(1)"}, "bad_url"),
        ({"allowed_domains": ["not a domain"]}, "bad_format"),
        ({"allowed_domains": "example.com"}, "wrong_type"),
        ({"allowed_domains": [f"d{i}.example.com" for i in range(51)]}, "too_many"),
        ({"edit_window_s": 60, "surprise": 1}, "unknown_field"),
        ({"edit_window_s": 60, "registration_mode": "domains"}, "email_verification_unavailable"),
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(
    who: dict[str, Caller], db: Database, body: dict[str, Any], code: str
) -> None:
    refused = await who["alice"].patch("/settings", body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), refused.text
    assert await stored(db) == {} and await settings_events(db) == []


async def test_channel_creation_admins_applies_on_the_next_request(
    who: dict[str, Caller], db: Database, cast: Cast
) -> None:
    assert (await who["bob"].post("/conversations", {"kind": "public", "name": "before"})).status_code == 201
    assert (await who["alice"].patch("/settings", {"channel_creation": "admins"})).status_code == 200
    for kind in ("public", "private"):
        refused = await who["bob"].post("/conversations", {"kind": kind, "name": f"after-{kind}"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_allowed")
    assert (await who["maya"].post("/conversations", {"kind": "public", "name": "mods"})).status_code == 403
    assert (await who["alice"].post("/conversations", {"kind": "public", "name": "admins"})).status_code == 201
    assert (await who["bob"].post("/direct", {"user_ids": [cast.carol.id]})).status_code == 201  # DMs still open
    await who["alice"].patch("/settings", {"channel_creation": "members"})
    assert (await who["bob"].post("/conversations", {"kind": "public", "name": "again"})).status_code == 201


async def test_invite_policy_applies_on_the_next_request(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    group = await channel(db, cast.bob, "crew", kind="private")
    assert (await who["alice"].patch("/settings", {"invite_policy": "admins"})).status_code == 200
    refused = await who["bob"].post(f"/conversations/{group}/members", {"user_id": cast.carol.id})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_allowed")
    await who["alice"].patch("/settings", {"invite_policy": "members"})
    added = await who["bob"].post(f"/conversations/{group}/members", {"user_id": cast.carol.id})
    assert added.status_code == 200 and added.json()["member"]


async def age(db: Database, message_id: int, seconds: int) -> None:
    """Move a message into the past (no sleeping, no clock)."""
    async with db.transaction() as s:
        created = await s.scalar(select(models.Message.created_at).where(models.Message.id == message_id))
        assert created is not None
        await s.execute(
            update(models.Message)
            .where(models.Message.id == message_id)
            .values(created_at=created - timedelta(seconds=seconds))
        )


async def test_edit_and_delete_windows_apply_to_authors(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    old, fresh = await post(db, cast.bob, sales, "old"), await post(db, cast.bob, sales, "fresh")
    await age(db, old.id, 3600)
    patched = await who["alice"].patch("/settings", {"edit_window_s": 600, "delete_window_s": 600})
    assert patched.status_code == 200
    edit = await who["bob"].patch(f"/messages/{old.id}", {"body": "changed"})
    assert (edit.status_code, edit.json()["error"]["code"]) == (403, "edit_window_passed")
    gone = await who["bob"].send("DELETE", f"/messages/{old.id}", {})
    assert (gone.status_code, gone.json()["error"]["code"]) == (403, "delete_window_passed")
    async with db.read() as s:
        row = await s.get(models.Message, old.id)
        assert row is not None and row.body == "old" and row.deleted_at is None
    assert (await who["bob"].patch(f"/messages/{fresh.id}", {"body": "still in time"})).status_code == 200
    assert (await who["maya"].send("DELETE", f"/messages/{old.id}", {"reason": "spam"})).status_code == 200
    await who["alice"].patch("/settings", {"edit_window_s": 0})  # 0: no limit
    assert (await who["bob"].patch(f"/messages/{fresh.id}", {"body": "no limit"})).status_code == 200


async def test_meet_uses_the_meeting_base_in_force(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await who["alice"].patch("/settings", {"meeting_base_url": "https://jitsi.example.com/rooms"})
    meet = {"body": "/meet Q3", "nonce": "m1", "topic": "t"}
    posted = await who["bob"].post(f"/conversations/{sales}/messages", meet)
    assert posted.status_code == 201
    assert posted.json()["body"].startswith("Q3: https://jitsi.example.com/rooms/")
    retried = await who["bob"].post(f"/conversations/{sales}/messages", meet)
    assert (retried.status_code, retried.json()["id"]) == (200, posted.json()["id"])


async def test_the_settings_page_is_for_admins(client: httpx2.AsyncClient, cast: Cast) -> None:
    await log_in(client, "alice")
    page = await client.get("/admin/settings")
    assert page.status_code == 200
    assert 'data-api="PATCH /settings"' in page.text
    assert '<option value="domains" disabled' in page.text
    assert_no_inline_code(page.text)
    for name in ("maya", "bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        assert (await client.get("/admin/settings")).status_code == 404, name


async def test_settings_changes_count_one_event_each(who: dict[str, Caller], db: Database) -> None:
    async with db.read() as s:
        before = int(await s.scalar(select(func.count()).select_from(models.Event)) or 0)
    await who["alice"].patch("/settings", {"retention_days": 30, "invite_policy": "admins"})
    async with db.read() as s:
        assert int(await s.scalar(select(func.count()).select_from(models.Event)) or 0) == before + 1
    assert await stored(db) == {"retention_days": 30, "invite_policy": "admins"}

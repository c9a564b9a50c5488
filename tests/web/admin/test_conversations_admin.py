"""Conversations administration: the overview, rename / archive / hand over / default as admin, refusals, the page."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast
from tests.web.test_api_conversations import Caller
from tests.web.test_pages import assert_no_inline_code, log_in


async def events_of(db: Database, conversation_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with db.read() as s:
        rows = await s.scalars(
            select(models.Event).where(models.Event.conversation_id == conversation_id).order_by(models.Event.id)
        )
        return [(r.kind, r.payload) for r in rows]


async def row(db: Database, conversation_id: int) -> models.Conversation:
    async with db.read() as s:
        found = await s.get(models.Conversation, conversation_id)
        assert found is not None
        return found


async def test_admins_see_every_channel_and_group_and_only_count_direct_ones(
    who: dict[str, Caller], db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.bob, "sales", members=[cast.carol])
    secret = await channel(db, cast.bob, "secret plans", kind="private", members=[cast.carol])
    await post(db, cast.bob, secret, "the plan is confidential")
    await direct(db, cast.bob, cast.carol)
    listed = await who["alice"].get("/admin/conversations")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert (body["total"], body["direct_count"]) == (2, 1)
    by_name = {c["name"]: c for c in body["conversations"]}
    assert by_name["secret plans"]["kind"] == "private" and by_name["secret plans"]["member_count"] == 2
    assert by_name["secret plans"]["owner"]["username"] == "bob" and not by_name["secret plans"]["joined"]
    assert by_name["sales"]["id"] == sales and not by_name["sales"]["is_default"]
    assert "confidential" not in listed.text and "carol" not in listed.text  # no content, no member names
    assert [c["name"] for c in (await who["alice"].get("/admin/conversations?q=SECR")).json()["conversations"]] == [
        "secret plans"
    ]
    assert (await who["alice"].get("/admin/conversations?kind=public")).json()["total"] == 1
    assert (await who["alice"].get("/admin/conversations?archived=true")).json()["total"] == 0
    assert (await who["alice"].get("/admin/conversations?q=%25")).json()["total"] == 0  # a LIKE wildcard is text
    refused = await who["alice"].get("/admin/conversations?kind=direct")
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "wrong_value")


@pytest.mark.parametrize("name", ["maya", "bob", "gus", "robot"])
async def test_only_admins_get_the_overview(who: dict[str, Caller], name: str) -> None:
    refused = await who[name].get("/admin/conversations")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_required")


async def test_an_admin_manages_a_private_group_they_are_not_in(
    who: dict[str, Caller], db: Database, cast: Cast
) -> None:
    group = await channel(db, cast.bob, "crew", kind="private", members=[cast.carol])
    assert (await who["alice"].get(f"/conversations/{group}")).status_code == 404  # still cannot read it
    renamed = await who["alice"].patch(f"/conversations/{group}", {"name": "crew 2"})
    assert renamed.status_code == 200, renamed.text
    archived = await who["alice"].patch(f"/conversations/{group}", {"archived": True})
    assert archived.status_code == 200 and archived.json()["archived"]
    unarchived = await who["alice"].patch(f"/conversations/{group}", {"archived": False})
    assert unarchived.status_code == 200
    handed = await who["alice"].patch(f"/conversations/{group}", {"owner_id": cast.carol.id})
    assert handed.status_code == 200 and handed.json()["owner_id"] == cast.carol.id
    assert (await row(db, group)).owner_id == cast.carol.id
    kinds = [kind for kind, _ in await events_of(db, group)]
    assert kinds[-4:] == ["conversation.updated"] * 3 + ["conversation.owner_changed"]
    assert (await events_of(db, group))[-1][1] == {"owner": {"old": cast.bob.id, "new": cast.carol.id}}
    assert (await who["alice"].get(f"/conversations/{group}/messages")).status_code == 404


async def test_the_owner_manages_and_the_former_owner_no_longer_does(
    who: dict[str, Caller], db: Database, cast: Cast
) -> None:
    group = await channel(db, cast.bob, "crew", kind="private", members=[cast.carol])
    assert (await who["carol"].patch(f"/conversations/{group}", {"name": "mine"})).status_code == 403
    assert (await who["bob"].patch(f"/conversations/{group}", {"owner_id": cast.carol.id})).status_code == 200
    assert (await who["carol"].patch(f"/conversations/{group}", {"name": "mine"})).status_code == 200
    refused = await who["bob"].patch(f"/conversations/{group}", {"name": "back"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_allowed")


async def test_a_new_owner_must_be_an_active_human_member(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    group = await channel(db, cast.bob, "crew", kind="private", members=[cast.gus, cast.robot])
    before = await events_of(db, group)
    for owner, code, status in [
        (cast.carol.id, "bad_owner", 422),  # not a member
        (cast.gus.id, "bad_owner", 422),  # a guest
        (cast.robot.id, "bad_owner", 422),  # a bot
        (999_999, "user_not_found", 404),
        (0, "out_of_range", 422),
    ]:
        refused = await who["alice"].patch(f"/conversations/{group}", {"owner_id": owner, "name": "renamed"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), owner
    assert (await row(db, group)).owner_id == cast.bob.id and (await row(db, group)).name == "crew"
    assert await events_of(db, group) == before


async def test_default_channels_are_public_and_chosen_by_admins(
    who: dict[str, Caller], db: Database, cast: Cast
) -> None:
    lobby = await channel(db, cast.bob, "lobby")
    group = await channel(db, cast.alice, "staff room", kind="private")
    marked = await who["alice"].patch(f"/conversations/{lobby}", {"is_default": True})
    assert marked.status_code == 200 and marked.json()["is_default"]
    assert (await events_of(db, lobby))[-1] == (
        "conversation.updated",
        {"changes": {"is_default": {"old": False, "new": True}}},
    )
    listed = (await who["alice"].get("/admin/conversations?default=true")).json()
    assert [c["id"] for c in listed["conversations"]] == [lobby]
    for name in ("maya", "bob"):
        refused = await who[name].patch(f"/conversations/{lobby}", {"is_default": False})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_allowed"), name
    private = await who["alice"].patch(f"/conversations/{group}", {"is_default": True})
    assert (private.status_code, private.json()["error"]["code"]) == (422, "default_public_only")
    await who["alice"].patch(f"/conversations/{lobby}", {"is_default": False})
    await who["alice"].patch(f"/conversations/{lobby}", {"archived": True})
    archived = await who["alice"].patch(f"/conversations/{lobby}", {"is_default": True})
    assert (archived.status_code, archived.json()["error"]["code"]) == (403, "conversation_archived")
    assert not (await row(db, lobby)).is_default and not (await row(db, group)).is_default


async def test_new_conversations_are_owned_by_their_creator(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    created = await who["bob"].post("/conversations", {"kind": "public", "name": "fresh"})
    assert created.json()["owner_id"] == cast.bob.id and not created.json()["is_default"]
    assert (await row(db, created.json()["id"])).owner_id == cast.bob.id


async def test_direct_conversations_cannot_be_managed(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    dm = await direct(db, cast.alice, cast.bob)
    for body in ({"owner_id": cast.bob.id}, {"archived": True}, {"is_default": True}):
        refused = await who["alice"].patch(f"/conversations/{dm}", body)
        assert refused.status_code in (403, 422), body
    other = await direct(db, cast.bob, cast.carol)
    assert (await who["alice"].patch(f"/conversations/{other}", {"archived": True})).status_code == 404


async def test_the_conversations_page_is_for_admins(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    await channel(db, cast.bob, "sales")
    await channel(db, cast.bob, "crew", kind="private")
    await log_in(client, "alice")
    page = await client.get("/admin/conversations?q=a&state=live")
    assert page.status_code == 200
    assert "sales" in page.text and "crew" not in page.text  # filtered by name
    assert 'class="owner-form"' in page.text and 'class="default-form"' in page.text
    assert_no_inline_code(page.text)
    assert "crew" in (await client.get("/admin/conversations?kind=private")).text
    for name in ("maya", "bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        assert (await client.get("/admin/conversations")).status_code == 404, name

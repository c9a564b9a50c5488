"""The event feed serves what the reader may see *now*: removals, guests, staff-only and per-user events."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette

from chat.channels.conversations import remove_member
from chat.channels.feed import events_since
from chat.channels.message_commands import EditMessage
from chat.channels.messages import edit_message
from chat.domain.actors import Actor
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.web.authhelp import as_user


async def feed(db: Database, actor: Actor, after: int = 0) -> list[tuple[str, int | None]]:
    async with db.read() as s:
        page = await events_since(s, actor, after, limit=1000)
    return [(e.kind, e.conversation) for e in page.events]


async def test_a_removed_member_sees_none_of_the_groups_events_not_even_old_ones(db: Database, cast: Cast) -> None:
    group = await channel(db, cast.alice, "board", kind="private", members=[cast.bob])
    old = await post(db, cast.alice, group, "before the removal")
    assert ("message.posted", group) in await feed(db, cast.bob)
    async with db.transaction() as s:
        await remove_member(s, cast.alice, group, cast.bob.id)
    async with db.transaction() as s:
        await edit_message(s, cast.alice, old.id, EditMessage(body="edited after the removal"))
    await post(db, cast.alice, group, "after the removal")

    bob_sees = await feed(db, cast.bob)
    # only the events about him are left of the group: nothing posted before or after, no edit
    assert [k for k, c in bob_sees if c == group] == ["member.invited", "member.removed"]
    alice_sees = await feed(db, cast.alice)
    assert [k for k, c in alice_sees if c == group and k.startswith("message.")] == [
        "message.posted",
        "message.edited",
        "message.posted",
    ]


async def test_account_events_reach_the_right_readers(db: Database, cast: Cast) -> None:
    # user.created is for everyone but guests; session/token events only for their subject
    everyone = [k for k, c in await feed(db, cast.bob) if c is None]
    assert everyone.count("user.created") == 6
    async with db.read() as s:
        gus_page = await events_since(s, cast.gus, 0, limit=1000)
    created = [e.data["user"]["id"] for e in gus_page.events if e.kind == "user.created"]
    assert created == [cast.gus.id]  # a guest learns of their own account only


async def test_rest_pages_have_no_duplicates_and_end_at_the_horizon(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    for i in range(7):
        await post(db, cast.alice, sales, f"m{i}")
    headers = await as_user(client, app, cast.bob)
    seen: list[int] = []
    after = 0
    while True:
        r = await client.get(f"/api/v1/events?after={after}&limit=3", headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [e["id"] for e in page["events"]]
        after = page["last_event_id"]
        if not page["has_more"]:
            break
    assert seen == sorted(set(seen))
    bodies = []
    async with db.read() as s:
        full = await events_since(s, cast.bob, 0, limit=1000)
    assert seen == [e.id for e in full.events]
    bodies = [e.data["body"] for e in full.events if e.kind == "message.posted"]
    assert bodies == [f"m{i}" for i in range(7)]
    # nothing new: the cursor stays, the page is empty
    r = await client.get(f"/api/v1/events?after={after}", headers=headers)
    assert r.json() == {"events": [], "last_event_id": after, "has_more": False}


async def test_rest_bad_cursor_and_limit_are_refused(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    headers = await as_user(client, app, cast.bob)
    for query, code in (("after=abc", "wrong_type"), ("limit=0", "out_of_range"), ("limit=1001", "out_of_range")):
        r = await client.get(f"/api/v1/events?{query}", headers=headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, query
    r = await client.get("/api/v1/events")
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"

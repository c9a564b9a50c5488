"""The audit log: GET /api/v1/audit filters, pages, hides bodies, shows chain status on demand; the page."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import func, select, update

from chat.channels.audit_log import summarise
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.web.test_api_conversations import Caller
from tests.web.test_pages import assert_no_inline_code, log_in


async def event_count(db: Database) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(models.Event)) or 0)


async def test_the_log_is_newest_first_with_names_and_no_bodies(
    who: dict[str, Caller], db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.bob, "sales", members=[cast.carol])
    await post(db, cast.carol, sales, "the secret tender price is 42")
    before = await event_count(db)
    page = await who["alice"].get("/audit")
    assert page.status_code == 200, page.text
    assert await event_count(db) == before  # reading the log is not logged
    body = page.json()
    ids = [e["id"] for e in body["events"]]
    assert ids == sorted(ids, reverse=True)
    newest = body["events"][0]
    assert newest["kind"] == "message.posted" and newest["actor_name"] == "Carol"
    assert newest["conversation"] == sales and newest["conversation_name"] == "sales"
    assert newest["summary"].startswith("message.posted: message ")
    assert "secret tender" not in page.text  # never a body
    assert {c["chain"]: c["status"] for c in body["chains"]} == {f"c{sales}": "unchecked", "system": "unchecked"}


async def test_filters_narrow_the_log(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.bob, "sales", members=[cast.carol])
    other = await channel(db, cast.alice, "other")
    await post(db, cast.carol, sales, "one")
    await post(db, cast.alice, other, "two")
    by_carol = (await who["alice"].get(f"/audit?actor={cast.carol.id}")).json()["events"]
    assert by_carol and {e["actor"] for e in by_carol} == {cast.carol.id}
    in_other = (await who["alice"].get(f"/audit?conversation={other}")).json()["events"]
    assert [e["kind"] for e in in_other] == ["message.posted", "conversation.created"]
    posts = (await who["alice"].get("/audit?kind=message.")).json()["events"]
    assert [e["kind"] for e in posts] == ["message.posted", "message.posted"]
    assert (await who["alice"].get("/audit?kind=message")).json()["events"] == []  # exact kind, no such one
    async with db.transaction() as s:  # the first post happened long ago
        await s.execute(
            update(models.Event)
            .where(models.Event.conversation_id == sales)
            .values(created_at=models.utcnow() - timedelta(days=30))
        )
    today = models.utcnow().date().isoformat()
    recent = (await who["alice"].get(f"/audit?after={today}&conversation={sales}")).json()["events"]
    assert recent == []
    old = (await who["alice"].get(f"/audit?before={(models.utcnow() - timedelta(days=10)).date()}")).json()
    assert {e["conversation"] for e in old["events"]} == {sales}
    until_today = (await who["alice"].get(f"/audit?before={today}&kind=message.")).json()["events"]
    assert len(until_today) == 2  # a date as "before" includes that whole day
    moment = (await who["alice"].get("/audit?after=2020-01-01T10:00:00%2B02:00&limit=1")).json()
    assert len(moment["events"]) == 1 and moment["next_cursor"] == moment["events"][0]["id"]


async def test_pages_follow_the_cursor(who: dict[str, Caller], db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.bob, "sales")
    for i in range(5):
        await post(db, cast.bob, sales, f"m{i}")
    seen: list[int] = []
    cursor = ""
    while True:
        page = (await who["alice"].get(f"/audit?conversation={sales}&limit=2{cursor}")).json()
        seen += [e["id"] for e in page["events"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert len(seen) == 6 and seen == sorted(set(seen), reverse=True)


async def test_verify_gives_each_chain_status_and_the_first_bad_seq(
    who: dict[str, Caller], db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.bob, "sales")
    for i in range(3):
        await post(db, cast.bob, sales, f"m{i}")
    ok = (await who["alice"].get("/audit?verify=true")).json()
    assert {c["chain"]: c["status"] for c in ok["chains"]} == {f"c{sales}": "verifies", "system": "verifies"}
    assert {c["chain"]: c["events"] for c in ok["chains"]}[f"c{sales}"] == 4
    async with db.transaction() as s:  # forge the second event of the channel's chain
        await s.execute(
            update(models.Event)
            .where(models.Event.chain == f"c{sales}", models.Event.seq == 2)
            .values(payload={"forged": True})
        )
    broken = (await who["alice"].get(f"/audit?conversation={sales}&verify=1")).json()
    (chain,) = broken["chains"]
    assert (chain["chain"], chain["status"], chain["first_bad_seq"]) == (f"c{sales}", "broken", 2)
    assert chain["problem"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("after=yesterday", "bad_date"),
        ("before=2026-13-01", "bad_date"),
        ("before=9999-12-31", "bad_date"),  # the day after is past the calendar
        ("after=0001-01-01T00:00:00%2B01:00", "bad_date"),  # before year 1 in UTC
        ("before=9999-12-31T23:59:59-01:00", "bad_date"),  # after year 9999 in UTC
        ("actor=x", "wrong_type"),
        ("conversation=0", "out_of_range"),
        ("limit=1000", "out_of_range"),
        ("verify=maybe", "wrong_type"),
        ("kind=" + "k" * 41, "too_long"),
    ],
)
async def test_bad_filters_are_refused(who: dict[str, Caller], query: str, code: str) -> None:
    refused = await who["alice"].get(f"/audit?{query}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, code)


@pytest.mark.parametrize("name", ["maya", "bob", "gus", "robot"])
async def test_only_admins_read_the_log(who: dict[str, Caller], name: str) -> None:
    refused = await who[name].get("/audit")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_required")


async def test_the_audit_page_is_for_admins(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.bob, "sales")
    await post(db, cast.bob, sales, "private words")
    await log_in(client, "alice")
    page = await client.get(f"/admin/audit?conversation={sales}")
    assert page.status_code == 200
    assert 'id="audit-table"' in page.text and "message.posted" in page.text
    assert "private words" not in page.text
    assert 'id="verify-form"' in page.text and "data-chain" in page.text
    assert_no_inline_code(page.text)
    verified = await client.get(f"/admin/audit?conversation={sales}&verify=1")
    assert 'class="admin-ok"' in verified.text
    for name in ("maya", "bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        assert (await client.get("/admin/audit")).status_code == 404, name


def test_a_summary_names_people_never_dumps_their_record() -> None:
    created = {"user": {"id": 4, "username": "dan", "display_name": "Dan Okafor", "role": "member", "is_bot": False}}
    assert summarise("user.created", created, {}) == "user.created: Dan Okafor (@dan)"
    assert summarise("member.joined", {"user": 4}, {4: "Dan Okafor"}) == "member.joined: Dan Okafor"
    assert summarise("member.joined", {"user": 9}, {}) == "member.joined: user 9"

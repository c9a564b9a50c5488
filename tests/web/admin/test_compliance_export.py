"""Compliance export (issue 11, point 6): admins export a date range across conversations; the page
/admin/exports; bad input changes nothing; every export is logged."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import httpx2
from sqlalchemy import func, select, update
from starlette.applications import Starlette

from chat.archive import verifier
from chat.store import models
from chat.store.db import Database
from tests.archive.test_exports import history
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.test_pages import assert_no_inline_code, log_in

URL = "/api/v1/compliance/export"


async def exported_events(db: Database) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.count()).where(models.Event.kind == "archive.exported")) or 0)


async def test_the_page_is_for_admins(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    await history(db, cast)
    for name, status in (("alice", 200), ("maya", 404), ("bob", 404), ("gus", 404)):
        client.cookies.clear()
        await log_in(client, name)
        page = await client.get("/admin/exports")
        assert page.status_code == status, name
    client.cookies.clear()
    await log_in(client, "alice")
    page = (await client.get("/admin/exports")).text
    assert_no_inline_code(page)
    assert f'action="{URL}"' in page and 'name="conversation"' in page and "ops" in page


async def test_a_date_range_across_conversations(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    h = await history(db, cast)
    old = await post(db, cast.bob, h.general, "from last year", topic="archive")
    async with db.transaction() as s:
        await s.execute(
            update(models.Message)
            .where(models.Message.id == old.id)
            .values(created_at=models.utcnow() - timedelta(days=400))
        )
    today = models.utcnow().date()
    headers = await as_user(client, app, cast.alice)
    params = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat(), "format": "jsonl"}
    everything = await client.get(URL, params=params, headers=headers)
    assert everything.status_code == 200
    records = [json.loads(line) for line in everything.text.splitlines()]
    conversations = {r["conversation_id"] for r in records}
    assert {h.general, h.ops} <= conversations and len(conversations) == 3  # and the direct conversation
    assert old.id not in {r["id"] for r in records}  # outside the range
    one = await client.get(URL, params=[*params.items(), ("conversation", str(h.ops))], headers=headers)
    assert {json.loads(line)["conversation_id"] for line in one.text.splitlines()} == {h.ops}
    csv_export = await client.get(URL, params={**params, "format": "csv"}, headers=headers)
    assert csv_export.text.startswith("id,conversation_id,topic")
    async with db.read() as s:
        logged = (await s.scalars(select(models.Event).where(models.Event.kind == "archive.exported"))).all()
    assert [(e.chain, e.audience, e.actor_id) for e in logged] == [("system", "admins", cast.alice.id)] * 3
    assert logged[1].payload["conversations"] == [h.ops] and logged[0].payload["from"].startswith(params["from"])


async def test_the_html_bundle_verifies(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, tmp_path: Path
) -> None:
    h = await history(db, cast)
    today = models.utcnow().date().isoformat()
    headers = await as_user(client, app, cast.alice)
    response = await client.get(URL, params={"from": today, "to": today, "format": "html"}, headers=headers)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        z.extractall(tmp_path / "bundle")
        manifest = json.loads(z.read("manifest.json"))
    assert f"c{h.general}" in manifest["chains"] and f"c{h.ops}" in manifest["chains"]
    checked = verifier.verify_bundle(tmp_path / "bundle")
    assert checked.messages == manifest["messages"] > 0


async def test_bad_requests_change_nothing(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    await history(db, cast)
    admin = await as_user(client, app, cast.alice)
    cases = [
        (admin, {"to": "2026-01-01"}, 422, "missing_field"),
        (admin, {"from": "yesterday", "to": "2026-01-01"}, 422, "bad_format"),
        (admin, {"from": "2026-02-01", "to": "2026-01-01"}, 422, "out_of_range"),
        (admin, {"from": "2026-01-01", "to": "9999-12-31"}, 422, "bad_format"),
        (admin, {"from": "0001-01-01T00:00:00+05:00", "to": "2026-01-01"}, 422, "bad_format"),
        (admin, {"from": "2026-01-01", "to": "2026-01-02", "conversation": "²"}, 422, "wrong_type"),
        (admin, {"from": "2026-01-01", "to": "2026-01-02", "conversation": "1" * 5000}, 422, "wrong_type"),
        (admin, {"from": "2026-01-01", "to": "2026-01-02", "format": "xml"}, 422, "wrong_value"),
        (admin, {"from": "2026-01-01", "to": "2026-01-02", "conversation": "x"}, 422, "wrong_type"),
        (admin, {"from": "2026-01-01", "to": "2026-01-02", "conversation": "99999"}, 404, "conversation_not_found"),
        (await as_user(client, app, cast.bob), {"from": "2026-01-01", "to": "2026-01-02"}, 403, "not_allowed"),
        (await as_user(client, app, cast.maya), {"from": "2026-01-01", "to": "2026-01-02"}, 403, "not_allowed"),
    ]
    for headers, params, status, code in cases:
        response = await client.get(URL, params=params, headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), params
    assert await exported_events(db) == 0
    assert (await client.get(URL, params={"from": "2026-01-01", "to": "2026-01-02"})).status_code == 401


async def test_a_range_is_read_in_batches_even_when_many_messages_share_an_instant(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    from bench.bulk import load_posts

    general = await channel(db, cast.alice, "general", members=[cast.bob])
    async with db.transaction() as s:  # 1,200 messages with the same created_at: ties across batches of 500
        await load_posts(s, general, [(cast.bob.id, "t", f"m{n}") for n in range(1200)], {}, step=timedelta(0))
    today = models.utcnow().date().isoformat()
    headers = await as_user(client, app, cast.alice)
    response = await client.get(URL, params={"from": today, "to": today}, headers=headers)
    ids = [json.loads(line)["id"] for line in response.text.splitlines()]
    assert len(ids) == 1200 and ids == sorted(set(ids))

"""The reports API over HTTP and the websocket: shapes, permissions, bad input that changes nothing,
a mute that reaches an already-open socket, the system DM, and the /admin/reports page.

Every caller authenticates with a real bearer token (``issue_token``), except the page, which
is opened with a login session as a browser would.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.socket_support import Connector, connector
from tests.web.test_pages import log_in

API = "/api/v1"


async def state(db: Database) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    async with db.read() as s:
        return {
            "reports": [
                (r.id, r.resolved_at, r.action, r.note) for r in (await s.scalars(select(models.Report))).all()
            ],
            "events": await s.scalar(select(func.count()).select_from(models.Event)),
            "messages": [(m.id, m.deleted_at) for m in (await s.scalars(select(models.Message))).all()],
            "users": [(u.id, u.active, u.muted_until) for u in (await s.scalars(select(models.User))).all()],
        }


@pytest.fixture
async def scene(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> dict[str, Any]:
    group = await channel(db, cast.alice, "deal", kind="private", members=[cast.bob, cast.carol])
    ids = [(await post(db, cast.bob, group, f"m{i}", topic="Q3")).id for i in range(6)]
    headers = {name: await as_user(client, app, getattr(cast, name)) for name in ("alice", "maya", "bob", "carol")}
    return {"group": group, "ids": ids, "h": headers}


async def file(client: httpx2.AsyncClient, headers: dict[str, str], message_id: int, reason: str = "spam") -> int:
    response = await client.post(f"{API}/messages/{message_id}/reports", json={"reason": reason}, headers=headers)
    assert response.status_code == 201, response.text
    report_id: int = response.json()["id"]
    return report_id


async def test_report_list_and_resolve_over_http(client: httpx2.AsyncClient, scene: dict[str, Any]) -> None:
    h, ids = scene["h"], scene["ids"]
    filed = await client.post(f"{API}/messages/{ids[3]}/reports", json={"reason": "insults"}, headers=h["carol"])
    assert filed.status_code == 201, filed.text
    assert set(filed.json()) == {"id", "message_id", "reason", "created_at"}
    rid = filed.json()["id"]
    queue = await client.get(f"{API}/reports", headers=h["maya"])
    assert queue.status_code == 200
    (item,) = queue.json()["reports"]
    assert [m["body"] for m in item["context"]] == ["m1", "m2", "m3", "m4", "m5"]
    assert (item["status"], item["reporter"], item["place"]["kind"]) == ("open", item["reporter"], "private")
    done = await client.post(
        f"{API}/reports/{rid}/resolve", json={"action": "delete", "note": "not here"}, headers=h["maya"]
    )
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["action"]) == ("resolved", "delete")
    tomb = (await client.get(f"{API}/messages/{ids[3]}", headers=h["carol"])).json()
    assert tomb["deleted"]["reason"] == "not here"
    assert (await client.get(f"{API}/reports", headers=h["maya"])).json()["reports"] == []
    resolved = (await client.get(f"{API}/reports?status=resolved", headers=h["alice"])).json()["reports"]
    assert [r["id"] for r in resolved] == [rid]
    again = await client.post(f"{API}/reports/{rid}/resolve", json={"action": "dismiss"}, headers=h["maya"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "report_resolved")


async def test_the_moderator_reads_nothing_else_of_the_group(client: httpx2.AsyncClient, scene: dict[str, Any]) -> None:
    h, ids, group = scene["h"], scene["ids"], scene["group"]
    await client.post(f"{API}/messages/{ids[3]}/reports", json={"reason": "insults"}, headers=h["carol"])
    paths = (f"/conversations/{group}", f"/conversations/{group}/messages", *(f"/messages/{i}" for i in ids))
    for path in paths:
        response = await client.get(API + path, headers=h["maya"])
        assert response.status_code == 404, path


async def test_members_cannot_list_or_resolve_and_bad_input_changes_nothing(
    client: httpx2.AsyncClient, db: Database, scene: dict[str, Any]
) -> None:
    h, ids = scene["h"], scene["ids"]
    rid = await file(client, h["carol"], ids[1])
    before = await state(db)
    resolve = f"/reports/{rid}/resolve"
    attempts: list[tuple[str, str, dict[str, Any] | None, str, int, str]] = [
        ("GET", "/reports", None, "carol", 403, "staff_required"),
        ("GET", "/reports?status=closed", None, "maya", 422, "wrong_value"),
        ("POST", resolve, {"action": "dismiss"}, "bob", 403, "staff_required"),
        ("POST", resolve, {"action": "deactivate"}, "maya", 403, "admin_required"),
        ("POST", resolve, {"action": "ban"}, "maya", 422, "wrong_value"),
        ("POST", resolve, {"action": "mute"}, "maya", 422, "duration_required"),
        ("POST", resolve, {"action": "mute", "duration_s": 5}, "maya", 422, "out_of_range"),
        ("POST", resolve, {"action": "delete", "duration_s": 60}, "maya", 422, "duration_not_allowed"),
        ("POST", resolve, {"action": "dismiss", "extra": 1}, "maya", 422, "unknown_field"),
        ("POST", "/reports/999999/resolve", {"action": "dismiss"}, "maya", 404, "report_not_found"),
        ("POST", f"/messages/{ids[1]}/reports", {"reason": "again"}, "carol", 409, "already_reported"),
        ("POST", f"/messages/{ids[2]}/reports", {"reason": "mine"}, "bob", 403, "own_message"),
        ("POST", f"/messages/{ids[2]}/reports", {"reason": " "}, "alice", 422, "empty"),
        ("POST", f"/messages/{ids[2]}/reports", {"reason": "x" * 501}, "alice", 422, "too_long"),
        ("POST", f"/messages/{ids[2]}/reports", {}, "alice", 422, "missing_field"),
        ("POST", f"/messages/{ids[2]}/reports", {"reason": "hidden"}, "maya", 404, "message_not_found"),
    ]
    for method, path, body, who, status, code in attempts:
        response = await client.request(method, API + path, json=body, headers=h[who])
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (method, path, who)
    assert await state(db) == before


async def test_a_mute_reaches_an_open_socket_and_rest(
    client: httpx2.AsyncClient, live: Live, db: Database, cast: Cast, scene: dict[str, Any]
) -> None:
    h, ids, group = scene["h"], scene["ids"], scene["group"]
    async with connector(live) as connect:
        bob = await _socket(connect, cast)
        ok = await bob.request("post", conversation=group, topic="Q3", body="before", nonce="s1")
        assert ok["type"] == "ack"
        rid = await file(client, h["carol"], ids[0])
        muted = await client.post(
            f"{API}/reports/{rid}/resolve", json={"action": "mute", "duration_s": 600}, headers=h["maya"]
        )
        assert muted.status_code == 200, muted.text
        refused = await bob.request("post", conversation=group, topic="Q3", body="after", nonce="s2")
        assert (refused["type"], refused["code"]) == ("error", "muted") and refused["until"]
        rest = {"body": "rest", "nonce": "r1", "topic": "Q3"}
        over_rest = await client.post(f"{API}/conversations/{group}/messages", json=rest, headers=h["bob"])
        assert (over_rest.status_code, over_rest.json()["error"]["code"]) == (403, "muted")
        assert over_rest.json()["error"]["until"] == refused["until"]


async def _socket(connect: Connector, cast: Cast) -> Any:
    return await connect(cast.bob)


async def test_the_reporter_gets_a_system_dm(client: httpx2.AsyncClient, db: Database, scene: dict[str, Any]) -> None:
    h, ids = scene["h"], scene["ids"]
    headers = {**h["carol"], "Accept-Language": "fr-FR,fr;q=0.9"}
    rid = await file(client, headers, ids[2])
    await client.post(f"{API}/reports/{rid}/resolve", json={"action": "dismiss", "note": "ok"}, headers=h["maya"])
    conversations = (await client.get(f"{API}/conversations", headers=h["carol"])).json()["conversations"]
    users = {u["id"]: u for u in (await client.get(f"{API}/users", headers=h["carol"])).json()["users"]}
    (dm,) = [c for c in conversations if c["kind"] == "direct"]
    page = (await client.get(f"{API}/conversations/{dm['id']}/messages", headers=h["carol"])).json()
    (message,) = page["messages"]
    assert users[message["author"]]["username"] == "salon" and users[message["author"]]["is_bot"]
    assert f"signalement n° {rid}" in message["body"] and "#deal" in message["body"]


async def test_the_reports_page_is_for_staff(client: httpx2.AsyncClient, cast: Cast, scene: dict[str, Any]) -> None:
    h, ids = scene["h"], scene["ids"]
    await client.post(f"{API}/messages/{ids[3]}/reports", json={"reason": "rude <b>words</b>"}, headers=h["carol"])
    await log_in(client, "bob")
    assert (await client.get("/admin/reports")).status_code == 404
    client.cookies.clear()
    await log_in(client, "maya")
    page = await client.get("/admin/reports")
    assert page.status_code == 200
    text = page.text
    assert "rude &lt;b&gt;words&lt;/b&gt;" in text
    assert text.count('class="report-context-item') == 5 and 'aria-current="true"' in text
    assert 'value="deactivate"' not in text  # moderators cannot deactivate
    for action in ("dismiss", "delete", "mute", "remove"):
        assert 'data-api="POST /reports/' in text and f'value="{action}"' in text
    client.cookies.clear()
    await log_in(client, "alice")
    assert 'value="deactivate"' in (await client.get("/admin/reports")).text


async def test_only_staff_read_the_report_events(client: httpx2.AsyncClient, scene: dict[str, Any]) -> None:
    """Nobody learns from the event feed that they were reported, or by whom; the muted author learns of the mute."""
    h, ids = scene["h"], scene["ids"]
    rid = await file(client, h["carol"], ids[0])
    await client.post(f"{API}/reports/{rid}/resolve", json={"action": "mute", "duration_s": 60}, headers=h["maya"])

    async def kinds(who: str) -> set[str]:
        page = (await client.get(f"{API}/events?after=0&limit=500", headers=h[who])).json()
        return {e["kind"] for e in page["events"]}

    assert {"report.filed", "report.resolved", "user.muted"} <= await kinds("maya")
    assert not {"report.filed", "report.resolved"} & (await kinds("bob") | await kinds("carol"))
    assert "user.muted" in await kinds("bob") and "user.muted" not in await kinds("carol")

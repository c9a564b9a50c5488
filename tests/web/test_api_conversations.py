"""The conversation REST API: shapes, status codes, bad input that changes nothing, the policy over HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from chat.store import models
from chat.store.db import Database
from tests.factories import Cast
from tests.web.authhelp import as_user

API = "/api/v1"


class Caller:
    """One member of the cast, talking HTTP with their own token."""

    def __init__(self, client: httpx2.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    async def get(self, path: str) -> httpx2.Response:
        return await self.client.get(API + path, headers=self.headers)

    async def delete(self, path: str) -> httpx2.Response:
        return await self.client.delete(API + path, headers=self.headers)

    async def send(self, method: str, path: str, body: Any) -> httpx2.Response:
        return await self.client.request(method, API + path, json=body, headers=self.headers)

    async def post(self, path: str, body: Any) -> httpx2.Response:
        return await self.send("POST", path, body)

    async def patch(self, path: str, body: Any) -> httpx2.Response:
        return await self.send("PATCH", path, body)

    async def put(self, path: str, body: Any) -> httpx2.Response:
        return await self.send("PUT", path, body)


@pytest.fixture
async def who(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> dict[str, Caller]:
    names = ("alice", "maya", "bob", "carol", "gus", "robot")
    return {name: Caller(client, await as_user(client, app, getattr(cast, name))) for name in names}


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.read() as s:
        return (
            int(await s.scalar(select(func.count()).select_from(models.Conversation)) or 0),
            int(await s.scalar(select(func.count()).select_from(models.Membership)) or 0),
            int(await s.scalar(select(func.count()).select_from(models.Event)) or 0),
        )


async def make(caller: Caller, name: str, kind: str = "public") -> dict[str, Any]:
    response = await caller.post("/conversations", {"kind": kind, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def error_code(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# --- the happy paths -----------------------------------------------------------------


async def test_create_show_list_and_browse(who: dict[str, Caller], cast: Cast) -> None:
    created = await make(who["bob"], "Sales", "public")
    assert created["name"] == "Sales" and created["kind"] == "public"
    assert created["member_count"] == 1 and created["joined"] is True and created["starred"] is False
    assert created["others"] is None and created["archived"] is False and created["description"] == ""
    group = await make(who["bob"], "Board", "private")

    shown = await who["maya"].get(f"/conversations/{created['id']}")
    assert shown.status_code == 200 and shown.json()["joined"] is False

    mine = (await who["bob"].get("/conversations")).json()["conversations"]
    assert [c["name"] for c in mine] == ["Sales", "Board"]
    browse = (await who["carol"].get("/conversations?browse=public")).json()["conversations"]
    assert [(c["name"], c["joined"]) for c in browse] == [("Sales", False)]
    assert (await who["gus"].get("/conversations?browse=public")).json() == {"conversations": []}
    bad = await who["bob"].get("/conversations?browse=everything")
    assert (bad.status_code, error_code(bad)) == (422, "wrong_value")
    assert group["id"] not in [c["id"] for c in browse]


async def test_members_join_invite_leave_remove(who: dict[str, Caller], cast: Cast) -> None:
    channel = await make(who["bob"], "General")
    cid = channel["id"]
    joined = await who["carol"].post(f"/conversations/{cid}/members", {"user_id": cast.carol.id})
    assert joined.status_code == 200
    assert joined.json() == {
        "conversation": cid,
        "user": cast.carol.id,
        "member": True,
        "changed": True,
        "member_count": 2,
    }
    again = await who["carol"].post(f"/conversations/{cid}/members", {"user_id": cast.carol.id})
    assert again.json()["changed"] is False
    invited = await who["carol"].post(f"/conversations/{cid}/members", {"user_id": cast.gus.id})
    assert invited.status_code == 200 and invited.json()["member_count"] == 3
    listed = (await who["gus"].get(f"/conversations/{cid}/members")).json()["members"]
    assert [m["username"] for m in listed] == ["bob", "carol", "gus"]
    assert set(listed[0]) == {"id", "username", "display_name", "role", "is_bot", "joined_at"}
    left = await who["gus"].delete(f"/conversations/{cid}/members/{cast.gus.id}")
    assert left.status_code == 200 and left.json()["member"] is False
    removed = await who["maya"].delete(f"/conversations/{cid}/members/{cast.carol.id}")
    assert removed.status_code == 200 and removed.json()["member_count"] == 1
    gone = await who["maya"].delete(f"/conversations/{cid}/members/{cast.carol.id}")
    assert (gone.status_code, error_code(gone)) == (404, "member_not_found")


async def test_direct_conversations(who: dict[str, Caller], cast: Cast) -> None:
    first = await who["bob"].post("/direct", {"user_ids": [cast.carol.id]})
    assert first.status_code == 201
    body = first.json()
    assert body["kind"] == "direct" and body["name"] is None and body["member_count"] == 2
    assert [u["username"] for u in body["others"]] == ["carol"]
    again = await who["carol"].post("/direct", {"user_ids": [cast.bob.id]})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    alone = await who["bob"].post("/direct", {"user_ids": []})
    assert alone.status_code == 201 and alone.json()["others"] == []
    mine = (await who["carol"].get("/conversations")).json()["conversations"]
    assert [(c["kind"], [u["id"] for u in c["others"]]) for c in mine] == [("direct", [cast.bob.id])]
    hidden = await who["maya"].get(f"/conversations/{body['id']}")
    assert hidden.status_code == 404
    unknown = await who["bob"].post("/direct", {"user_ids": [424242]})
    assert (unknown.status_code, error_code(unknown)) == (404, "user_not_found")
    stranger = await who["gus"].post("/direct", {"user_ids": [cast.bob.id]})
    assert (stranger.status_code, error_code(stranger)) == (404, "user_not_found")


async def test_patch_and_star(who: dict[str, Caller], cast: Cast) -> None:
    cid = (await make(who["bob"], "General"))["id"]
    renamed = await who["maya"].patch(f"/conversations/{cid}", {"name": "Company", "description": "Everyone"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Company", "Everyone")
    archived = await who["maya"].patch(f"/conversations/{cid}", {"archived": True})
    assert archived.json()["archived"] is True
    starred = await who["bob"].put(f"/conversations/{cid}/star", {"starred": True})
    assert starred.status_code == 200 and starred.json() == {"conversation": cid, "starred": True, "changed": True}
    assert (await who["bob"].get(f"/conversations/{cid}")).json()["starred"] is True
    unarchived = await who["alice"].patch(f"/conversations/{cid}", {"archived": False})
    assert unarchived.json()["archived"] is False


# --- bad input changes nothing ---------------------------------------------------------


async def test_bad_input_changes_nothing(
    who: dict[str, Caller], cast: Cast, client: httpx2.AsyncClient, db: Database
) -> None:
    existing = await make(who["bob"], "Sales")
    group = await make(who["carol"], "Secret", "private")
    bob = who["bob"]
    cid = existing["id"]
    cases: list[str] = []

    async def expect(response: httpx2.Response, status: int, code: str) -> httpx2.Response:
        assert (response.status_code, error_code(response)) == (status, code), response.text
        cases.append(code)
        return response

    before = await counts(db)
    raw = {**bob.headers, "Content-Type": "application/json"}
    await expect(
        await client.post(f"{API}/conversations", content=b'{"kind": "public", "name": ', headers=raw),
        400,
        "malformed_json",
    )
    await expect(await client.post(f"{API}/direct", content=b"\xff\xfe", headers=raw), 400, "malformed_json")
    await expect(
        await bob.post("/conversations", {"kind": "public", "name": "x", "role": "admin"}), 422, "unknown_field"
    )
    await expect(await bob.post("/conversations", {"kind": "public", "name": 5}), 422, "wrong_type")
    await expect(await bob.post("/conversations", {"kind": "secret", "name": "x"}), 422, "wrong_value")
    await expect(await bob.post("/conversations", {"kind": "public"}), 422, "missing_field")
    await expect(await bob.post("/conversations", ["kind", "public"]), 422, "invalid_body")
    await expect(await bob.post("/conversations", {"kind": "public", "name": "x" * 61}), 422, "too_long")
    await expect(
        await bob.post("/conversations", {"kind": "public", "name": "x", "description": "d" * 1001}), 422, "too_long"
    )
    await expect(await bob.post("/conversations", {"kind": "private", "name": " sALES "}), 409, "name_taken")
    await expect(await bob.patch(f"/conversations/{cid}", {"name": "x" * 61}), 422, "too_long")
    await expect(await bob.patch(f"/conversations/{cid}", {"archived": "yes"}), 422, "wrong_type")
    await expect(await bob.post(f"/conversations/{cid}/members", {"user_id": "2"}), 422, "wrong_type")
    await expect(await bob.post(f"/conversations/{cid}/members", {"user_id": True}), 422, "wrong_type")
    await expect(await bob.put(f"/conversations/{cid}/star", {"starred": 1}), 422, "wrong_type")
    await expect(await bob.post("/direct", {"user_ids": "3"}), 422, "wrong_type")
    await expect(await bob.post("/direct", {"user_ids": list(range(1000, 1009))}), 422, "too_many")
    await expect(await bob.post("/direct", {"user_ids": list(range(1000, 1008))}), 422, "too_many_members")
    await expect(await bob.post("/direct", {"user_ids": [cast.carol.id, 424242]}), 404, "user_not_found")
    # missing auth, on every route
    for method, path, body in (
        ("GET", "/conversations", None),
        ("POST", "/conversations", {"kind": "public", "name": "New"}),
        ("GET", f"/conversations/{cid}", None),
        ("PATCH", f"/conversations/{cid}", {"name": "New"}),
        ("POST", "/direct", {"user_ids": []}),
        ("GET", f"/conversations/{cid}/members", None),
        ("POST", f"/conversations/{cid}/members", {"user_id": cast.carol.id}),
        ("DELETE", f"/conversations/{cid}/members/{cast.bob.id}", None),
        ("PUT", f"/conversations/{cid}/star", {"starred": True}),
    ):
        await expect(await client.request(method, API + path, json=body), 401, "not_authenticated")
    await expect(
        await client.get(f"{API}/conversations", headers={"Authorization": "Bearer salon_nope"}),
        401,
        "not_authenticated",
    )
    # unknown and invisible ids: the same 404 body
    unknown = await expect(await bob.get("/conversations/999999"), 404, "conversation_not_found")
    invisible = await expect(await who["alice"].get(f"/conversations/{group['id']}"), 404, "conversation_not_found")
    assert invisible.json() == unknown.json()
    for method, suffix, body in (
        ("PATCH", "", {"name": "Mine now"}),
        ("POST", "/members", {"user_id": cast.alice.id}),
        ("GET", "/members", None),
        ("DELETE", f"/members/{cast.carol.id}", None),
        ("PUT", "/star", {"starred": True}),
    ):
        missing = await client.request(method, f"{API}/conversations/999999{suffix}", json=body, headers=bob.headers)
        hidden = await client.request(
            method, f"{API}/conversations/{group['id']}{suffix}", json=body, headers=bob.headers
        )
        assert missing.status_code == hidden.status_code == 404, (method, suffix)
        assert missing.json() == hidden.json() == unknown.json()
    await expect(await bob.post(f"/conversations/{cid}/members", {"user_id": 424242}), 404, "user_not_found")
    assert await counts(db) == before
    assert len(cases) > 30


# --- the policy, over HTTP ---------------------------------------------------------------


async def test_routes_obey_the_policy(who: dict[str, Caller], cast: Cast, app: Starlette, db: Database) -> None:
    public = (await make(who["bob"], "General"))["id"]
    private = (await make(who["bob"], "Board", "private"))["id"]
    direct = (await who["bob"].post("/direct", {"user_ids": [cast.carol.id]})).json()["id"]
    before = await counts(db)
    refusals = [
        # (who, method, path, body, status, code) -- one row of the truth table each
        ("gus", "GET", f"/conversations/{public}", None, 404, "conversation_not_found"),  # guest, public, out: view -
        ("gus", "POST", f"/conversations/{public}/members", {"user_id": cast.gus.id}, 404, "conversation_not_found"),
        (
            "alice",
            "GET",
            f"/conversations/{private}/members",
            None,
            404,
            "conversation_not_found",
        ),  # admin, private, out
        ("carol", "PATCH", f"/conversations/{public}", {"name": "Mine"}, 403, "not_allowed"),  # member rename public -
        ("carol", "DELETE", f"/conversations/{public}/members/{cast.bob.id}", None, 403, "not_allowed"),  # remove -
        ("carol", "PUT", f"/conversations/{public}/star", {"starred": True}, 403, "not_allowed"),  # star, out -
        ("robot", "PATCH", f"/conversations/{public}", {"archived": True}, 403, "not_allowed"),  # bot = member
        ("bob", "POST", f"/conversations/{direct}/members", {"user_id": cast.maya.id}, 403, "not_allowed"),  # direct
        ("bob", "DELETE", f"/conversations/{direct}/members/{cast.bob.id}", None, 403, "not_allowed"),  # no leave
        ("gus", "POST", "/conversations", {"kind": "public", "name": "Guests"}, 403, "not_allowed"),
    ]
    for name, method, path, body, status, code in refusals:
        response = (
            await who[name].send(method, path, body) if body is not None else await _bare(who[name], method, path)
        )
        assert (response.status_code, error_code(response)) == (status, code), (name, method, path, response.text)
    assert await counts(db) == before

    # allowed cells: moderator renames a public channel she is not in; the creator renames her group
    assert (await who["maya"].patch(f"/conversations/{public}", {"description": "hi"})).status_code == 200
    assert (await who["bob"].patch(f"/conversations/{private}", {"name": "Council"})).status_code == 200
    # invite_policy comes from the server settings
    services = app.state.services
    app.state.services = dataclasses.replace(services, settings=services.settings.replace(invite_policy="admins"))
    denied = await who["bob"].post(f"/conversations/{private}/members", {"user_id": cast.carol.id})
    assert (denied.status_code, error_code(denied)) == (403, "not_allowed")
    app.state.services = dataclasses.replace(services, settings=services.settings.replace(invite_policy="members"))
    assert (await who["bob"].post(f"/conversations/{private}/members", {"user_id": cast.carol.id})).status_code == 200
    # archived: read-only, except leaving and unarchiving
    assert (await who["maya"].patch(f"/conversations/{public}", {"archived": True})).status_code == 200
    joined = await who["carol"].post(f"/conversations/{public}/members", {"user_id": cast.carol.id})
    assert (joined.status_code, error_code(joined)) == (403, "conversation_archived")
    assert (await who["bob"].delete(f"/conversations/{public}/members/{cast.bob.id}")).status_code == 200


async def _bare(caller: Caller, method: str, path: str) -> httpx2.Response:
    if method == "GET":
        return await caller.get(path)
    return await caller.delete(path)

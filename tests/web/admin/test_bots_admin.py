"""``/admin/bots`` and the bot API: create, list with tokens, issue and revoke a token, deactivate."""

from __future__ import annotations

import re

import httpx2
from starlette.applications import Starlette

from chat.store.db import Database
from tests.accounts.helpers import events_after, last_event_id
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.test_api_accounts import expect as refused
from tests.web.test_pages import assert_no_inline_code, log_in

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_admin_creates_a_bot_for_someone_and_its_token_works(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    alice = await as_user(client, app, cast.alice)
    mark = await last_event_id(db)
    created = await client.post(
        f"{API}/bots", headers=alice, json={"username": "deploy-bot", "display_name": "Deploy", "owner_id": cast.bob.id}
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["owner_id"] == cast.bob.id and bot["user"]["is_bot"] and bot["user"]["display_name"] == "Deploy"
    me = await client.get(f"{API}/me", headers=bearer(bot["token"]))
    assert me.status_code == 200 and me.json()["username"] == "deploy-bot"
    events = [(e.kind, e.actor_id, e.subject_id) for e in await events_after(db, mark)]
    assert events == [
        ("user.created", cast.alice.id, bot["user"]["id"]),
        ("token.created", bot["user"]["id"], bot["user"]["id"]),
    ]


async def test_members_create_bots_only_for_themselves_and_bad_input_changes_nothing(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    bob = await as_user(client, app, cast.bob)
    own = await client.post(f"{API}/bots", headers=bob, json={"username": "bobs-bot"})
    assert own.status_code == 201 and own.json()["owner_id"] == cast.bob.id
    await refused(client, db, "POST", "/bots", 403, "forbidden", headers=bob,
                  json={"username": "carols-bot", "owner_id": cast.carol.id})  # fmt: skip
    gus = await as_user(client, app, cast.gus)
    await refused(client, db, "POST", "/bots", 422, "bad_owner", headers=gus, json={"username": "gus-bot"})
    alice = await as_user(client, app, cast.alice)
    for body, status, code in (
        ({"username": "bobs-bot"}, 409, "username_taken"),
        ({"username": "x"}, 422, "too_short"),
        ({"username": "ok-bot", "owner_id": 999_999}, 404, "user_not_found"),
        ({"username": "ok-bot", "owner_id": cast.robot.id}, 422, "bad_owner"),
        ({"username": "ok-bot", "role": "admin"}, 422, "unknown_field"),
    ):
        await refused(client, db, "POST", "/bots", status, code, headers=alice, json=body)
    await refused(client, db, "POST", "/bots", 401, "not_authenticated", json={"username": "ok-bot"})


async def test_tokens_are_issued_listed_and_revoked(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    alice = await as_user(client, app, cast.alice)
    mark = await last_event_id(db)
    issued = await client.post(f"{API}/bots/{cast.robot.id}/tokens", headers=alice, json={"name": "ci"})
    assert issued.status_code == 201, issued.text
    token = issued.json()
    assert (await client.get(f"{API}/me", headers=bearer(token["token"]))).json()["username"] == "robot"
    listed = (await client.get(f"{API}/bots", headers=alice)).json()["bots"]
    (robot,) = [b for b in listed if b["user"]["id"] == cast.robot.id]
    assert robot["owner_username"] == "alice"
    (shown,) = robot["tokens"]
    assert (shown["id"], shown["name"], shown["prefix"], shown["revoked_at"]) == (
        token["id"],
        "ci",
        token["prefix"],
        None,
    )
    assert shown["last_used_at"] is not None  # it was just used
    await client.get(f"{API}/me", headers=bearer(token["token"]))  # again, within the interval: not rewritten
    again = (await client.get(f"{API}/bots", headers=alice)).json()["bots"]
    assert next(b for b in again if b["user"]["id"] == cast.robot.id)["tokens"][0] == shown
    assert token["token"] not in str(listed)
    gone = await client.delete(f"{API}/bots/{cast.robot.id}/tokens/{token['id']}", headers=alice)
    assert gone.status_code == 204
    assert (await client.get(f"{API}/me", headers=bearer(token["token"]))).status_code == 401
    revoked = (await client.get(f"{API}/bots", headers=alice)).json()["bots"]
    assert next(b for b in revoked if b["user"]["id"] == cast.robot.id)["tokens"][0]["revoked_at"] is not None
    events = [(e.kind, e.actor_id, e.subject_id, e.payload["token_id"]) for e in await events_after(db, mark)]
    assert events == [
        ("token.created", cast.alice.id, cast.robot.id, token["id"]),
        ("token.revoked", cast.alice.id, cast.robot.id, token["id"]),
    ]
    path = f"/bots/{cast.robot.id}/tokens/{token['id']}"
    await refused(client, db, "DELETE", path, 404, "token_not_found", headers=alice)  # already revoked


async def test_only_the_owner_and_admins_manage_a_bot(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    bob, maya = await as_user(client, app, cast.bob), await as_user(client, app, cast.maya)
    assert (await client.get(f"{API}/bots", headers=bob)).json() == {"bots": []}  # robot is alice's
    for headers in (bob, maya):
        await refused(client, db, "POST", f"/bots/{cast.robot.id}/tokens", 404, "bot_not_found",
                      headers=headers, json={"name": "mine"})  # fmt: skip
    alice = await as_user(client, app, cast.alice)
    await refused(client, db, "POST", f"/bots/{cast.bob.id}/tokens", 404, "bot_not_found",
                  headers=alice, json={"name": "not a bot"})  # fmt: skip
    await refused(client, db, "POST", f"/bots/{cast.robot.id}/tokens", 422, "empty", headers=alice, json={"name": " "})
    # bob's own token is not robot's: the bot's path does not reach it
    bob_tokens = (await client.get(f"{API}/tokens", headers=bob)).json()["tokens"]
    await refused(client, db, "DELETE", f"/bots/{cast.robot.id}/tokens/{bob_tokens[0]['id']}", 404, "token_not_found",
                  headers=alice)  # fmt: skip
    made = (await client.post(f"{API}/bots", headers=bob, json={"username": "bobs-bot"})).json()
    mine = (await client.get(f"{API}/bots", headers=bob)).json()["bots"]
    assert [b["user"]["username"] for b in mine] == ["bobs-bot"]
    extra = await client.post(f"{API}/bots/{made['user']['id']}/tokens", headers=bob, json={"name": "second"})
    assert extra.status_code == 201


async def test_deactivating_a_bot_stops_its_tokens(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    alice = await as_user(client, app, cast.alice)
    token = (await client.post(f"{API}/bots/{cast.robot.id}/tokens", headers=alice, json={"name": "t"})).json()
    mark = await last_event_id(db)
    off = await client.patch(f"{API}/users/{cast.robot.id}", headers=alice, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get(f"{API}/me", headers=bearer(token["token"]))).status_code == 401
    assert [e.kind for e in await events_after(db, mark)] == ["user.deactivated"]


async def test_only_admins_see_the_bots_page(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    alice = await as_user(client, app, cast.alice)
    await client.post(f"{API}/bots/{cast.robot.id}/tokens", headers=alice, json={"name": "ci runner"})
    signed_out = await client.get("/admin/bots")
    assert signed_out.status_code == 303
    for name in ("maya", "bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        assert (await client.get("/admin/bots")).status_code == 404, name
    client.cookies.clear()
    await log_in(client, "alice")
    page = await client.get("/admin/bots")
    assert page.status_code == 200
    assert_no_inline_code(page.text)
    section = re.search(r'data-bot="robot">(.*?)</section>', page.text, flags=re.DOTALL)
    assert section is not None
    robot = section.group(1)
    assert "@alice" in robot and "ci runner" in robot
    assert f'data-api="POST /bots/{cast.robot.id}/tokens"' in robot
    assert re.search(rf'data-api="DELETE /bots/{cast.robot.id}/tokens/\d+"', robot)
    assert f'data-api="PATCH /users/{cast.robot.id}"' in robot
    assert 'data-api="POST /bots"' in page.text

"""``/admin/users`` and the API calls behind it: roles, (de)activation, session reset, invitations.

Every action works through the documented API and writes its event; non-admins
are refused (403 on the API, 404 on the page); bad input changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from chat.accounts.commands import UpdateUser
from chat.accounts.users import update_user
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id, new_conversation, set_registration_mode
from tests.channels.messaging_support import channel
from tests.conftest import Live
from tests.factories import Cast, password_of
from tests.web.authhelp import as_user
from tests.web.socket_support import Connector, connector
from tests.web.test_api_accounts import expect as refused
from tests.web.test_pages import ORIGIN, assert_no_inline_code, log_in
from tests.web.test_socket_credentials import login, post_after_close, session_socket, still_open

API = "/api/v1"


# --- the page ------------------------------------------------------------------------------------


async def test_only_admins_see_the_users_page(client: httpx2.AsyncClient, cast: Cast) -> None:
    signed_out = await client.get("/admin/users")
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/login?next=/admin/users")
    for name in ("maya", "bob", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        response = await client.get("/admin/users")
        assert response.status_code == 404, name
        assert "users-table" not in response.text


async def test_the_page_lists_accounts_with_role_status_and_last_activity(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    async with db.transaction() as s:  # carol is deactivated: still listed, as such
        await update_user(s, cast.alice, cast.carol.id, UpdateUser(active=False))
    await log_in(client, "alice")
    page = await client.get("/admin/users")
    assert page.status_code == 200
    assert_no_inline_code(page.text)
    rows = dict(re.findall(r'<tr data-user="(\w+)">(.*?)</tr>', page.text, flags=re.DOTALL))
    assert set(rows) == {"alice", "maya", "bob", "carol", "gus", "robot"}
    assert "Moderator" in rows["maya"] and "Guest" in rows["gus"] and "bot" in rows["robot"]
    assert "Deactivated" in rows["carol"] and 'class="reactivate-form"' in rows["carol"]
    assert f'data-api="PATCH /users/{cast.bob.id}"' in rows["bob"]
    assert f'data-api="DELETE /users/{cast.bob.id}/sessions"' in rows["bob"]
    assert all("<time" in row for row in rows.values())  # each account's newest event (its creation, at least)
    assert 'class="deactivate-form"' not in rows["alice"]  # no button to lock yourself out
    found = await client.get("/admin/users", params={"q": "CAR"})
    assert re.findall(r'<tr data-user="(\w+)">', found.text) == ["carol"]
    nothing = await client.get("/admin/users", params={"q": "%_"})
    assert re.findall(r'<tr data-user="(\w+)">', nothing.text) == []


async def test_the_page_offers_the_invitation_form_and_lists_invitations_without_codes(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    group = await new_conversation(db, cast.alice, "partners", "private")
    theirs = await new_conversation(db, cast.bob, "bobs-secret", "private")
    alice = await as_user(client, app, cast.alice)
    created = await client.post(
        f"{API}/invitations",
        headers=alice,
        json={"role": "guest", "conversation_ids": [group], "expires_in_days": 30, "single_use": False},
    )
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["link"] == f"http://testserver/register?invite={answer['code']}" and answer["single_use"] is False
    await log_in(client, "alice")
    page = (await client.get("/admin/users")).text
    assert 'data-api="POST /invitations"' in page and 'data-result="link"' in page
    assert f'<option value="{group}">' in page and f'<option value="{theirs}">' not in page
    assert answer["code"] not in page
    row = re.search(rf'<tr data-invitation="{answer["id"]}">(.*?)</tr>', page, flags=re.DOTALL)
    assert row is not None and "partners" in row.group(1) and "Active" in row.group(1)
    assert f'data-api="DELETE /invitations/{answer["id"]}"' in row.group(1)


# --- invitations over the API ---------------------------------------------------------------------


async def test_invitations_are_listed_and_revoked_over_the_api(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    alice, maya, bob = [await as_user(client, app, a) for a in (cast.alice, cast.maya, cast.bob)]
    mine = (await client.post(f"{API}/invitations", headers=maya, json={"role": "member"})).json()
    listed = (await client.get(f"{API}/invitations", headers=maya)).json()["invitations"]
    assert [i["id"] for i in listed] == [mine["id"]] and "code" not in listed[0]
    assert (await client.get(f"{API}/invitations", headers=bob)).json() == {"invitations": []}
    await refused(client, db, "DELETE", f"/invitations/{mine['id']}", 404, "invitation_not_found", headers=bob)
    await refused(client, db, "DELETE", "/invitations/999999", 404, "invitation_not_found", headers=alice)
    await refused(client, db, "GET", "/invitations", 401, "not_authenticated")
    mark = await last_event_id(db)
    gone = await client.delete(f"{API}/invitations/{mine['id']}", headers=alice)
    assert gone.status_code == 200 and gone.json()["status"] == "revoked"
    assert [e.kind for e in await events_after(db, mark)] == ["invitation.revoked"]
    late = {"username": "dora", "password": "a-long-password", "invite": mine["code"]}
    await refused(client, db, "POST", "/users", 403, "invalid_invitation", json=late)


@pytest.mark.parametrize(
    "body",
    [
        {"role": "guest"},  # a guest needs conversations
        {"role": "member", "expires_in_days": 0},
        {"role": "member", "expires_in_days": 91},
        {"role": "member", "single_use": "yes"},
        {"role": "admin"},
    ],
)
async def test_bad_invitations_change_nothing(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, body: dict[str, Any]
) -> None:
    alice = await as_user(client, app, cast.alice)
    before = await counts(db)
    response = await client.post(f"{API}/invitations", headers=alice, json=body)
    assert response.status_code == 422, response.text
    assert await counts(db) == before


# --- roles, deactivation, sessions ----------------------------------------------------------------


async def test_role_changes_and_deactivation_write_their_events(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    alice = await as_user(client, app, cast.alice)
    bob_token = await as_user(client, app, cast.bob)
    mark = await last_event_id(db)
    promoted = await client.patch(f"{API}/users/{cast.bob.id}", headers=alice, json={"role": "moderator"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "moderator"
    off = await client.patch(f"{API}/users/{cast.bob.id}", headers=alice, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get(f"{API}/me", headers=bob_token)).status_code == 401  # tokens stop at once
    on = await client.patch(f"{API}/users/{cast.bob.id}", headers=alice, json={"active": True})
    assert on.status_code == 200
    kinds = [(e.kind, e.actor_id, e.subject_id) for e in await events_after(db, mark)]
    assert kinds == [
        ("user.role_changed", cast.alice.id, cast.bob.id),
        ("user.deactivated", cast.alice.id, cast.bob.id),
        ("user.reactivated", cast.alice.id, cast.bob.id),
    ]


async def test_non_admins_cannot_change_users_or_reset_sessions(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    for actor in (cast.maya, cast.bob, cast.gus, cast.robot):
        headers = await as_user(client, app, actor)
        await refused(client, db, "PATCH", f"/users/{cast.carol.id}", 403, "admin_required",
                      headers=headers, json={"active": False})  # fmt: skip
        await refused(client, db, "DELETE", f"/users/{cast.carol.id}/sessions", 403, "admin_required", headers=headers)
    alice = await as_user(client, app, cast.alice)
    await refused(client, db, "DELETE", "/users/999999/sessions", 404, "user_not_found", headers=alice)
    await refused(client, db, "PATCH", f"/users/{cast.bob.id}", 422, "wrong_value", headers=alice,
                  json={"role": "owner"})  # fmt: skip
    await refused(client, db, "DELETE", f"/users/{cast.bob.id}/sessions", 401, "not_authenticated")


async def test_reset_sessions_signs_the_user_out_of_every_browser(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    browsers = []
    for _ in range(2):
        response = await client.post(
            f"{API}/session", json={"username": "bob", "password": password_of("bob")}, headers={"Origin": ORIGIN}
        )
        browsers.append({"Cookie": f"salon_session={response.cookies['salon_session']}"})
        client.cookies.clear()
    token = await as_user(client, app, cast.bob)
    alice = await as_user(client, app, cast.alice)
    mark = await last_event_id(db)
    reset = await client.delete(f"{API}/users/{cast.bob.id}/sessions", headers=alice)
    assert reset.status_code == 204
    for headers in browsers:
        assert (await client.get(f"{API}/me", headers=headers)).status_code == 401
    assert (await client.get(f"{API}/me", headers=token)).status_code == 200  # tokens are not sessions
    (event,) = await events_after(db, mark)
    assert (event.kind, event.actor_id, event.subject_id, event.audience) == (
        "user.sessions_reset",
        cast.alice.id,
        cast.bob.id,
        "admins",
    )
    assert event.payload == {"user_id": cast.bob.id, "sessions": 2}
    login_again = await client.post(
        f"{API}/session", json={"username": "bob", "password": password_of("bob")}, headers={"Origin": ORIGIN}
    )
    assert login_again.status_code == 200


async def test_reset_sessions_closes_the_session_sockets_at_once(live: Live, db: Database, cast: Cast) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    async with httpx2.AsyncClient(base_url=live.base_url) as http, connector(live) as connect:
        connect_: Connector = connect
        browser = await login(http, cast.bob)
        by_token = await connect_(cast.bob, name="token")
        admin = {"Authorization": f"Bearer {await live.token(cast.alice)}"}
        async with session_socket(live, browser, "session") as by_session:
            response = await http.delete(f"{API}/users/{cast.bob.id}/sessions", headers=admin)
            assert response.status_code == 204, response.text
            assert await by_session.wait_closed() == 4001 and by_session.close_reason == "sessions reset"
            await post_after_close(by_session, db, general)
        assert await still_open(by_token)


# --- the registration mode in force ---------------------------------------------------------------


async def test_registration_follows_the_mode_in_force_not_the_startup_setting(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    assert app.state.services.settings.registration_mode == "invite"
    body = {"username": "dora", "password": "a-long-password"}
    await refused(client, db, "POST", "/users", 403, "invitation_required", json=body)
    assert 'id="invite"' in (await client.get("/register")).text
    await set_registration_mode(db, "closed")
    await refused(client, db, "POST", "/users", 403, "registration_closed", json=body)
    closed = (await client.get("/register")).text
    assert "Registration is closed" in closed and 'id="auth-form"' not in closed
    maya = await as_user(client, app, cast.maya)
    await refused(client, db, "POST", "/invitations", 403, "cannot_invite", headers=maya, json={"role": "member"})
    await set_registration_mode(db, "open")
    assert (await client.post(f"{API}/users", json=body)).status_code == 201

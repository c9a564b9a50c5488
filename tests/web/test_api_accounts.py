"""The accounts REST API: registration, profile, tokens, invitations, directory, admin, rate limits.

Every refused request is checked to change nothing (rows counted before and after).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from chat.accounts import passwords
from chat.accounts.ratelimit import Limiters
from chat.app import create_app
from chat.config import Settings
from chat.store.db import Database
from tests.accounts.helpers import (
    counts,
    event_kinds,
    last_event_id,
    member_ids,
    new_conversation,
    set_registration_mode,
)
from tests.factories import Cast, password_of
from tests.web.authhelp import as_user

API = "/api/v1"


class NoHashing:
    """Stands in for the argon2 context: any hashing work fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"argon2 {name} was called for a request that must be refused first")


async def expect(
    client: httpx2.AsyncClient, db: Database, method: str, path: str, status: int, code: str, **kw: Any
) -> httpx2.Response:
    """Send a request that must fail with ``status``/``code`` and change nothing."""
    before = await counts(db)
    response = await client.request(method, API + path, **kw)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert set(response.json()["error"]) >= {"code", "message"}
    assert await counts(db) == before
    return response


# --- registration -------------------------------------------------------------------------------


async def test_the_first_registration_is_the_admin(client: httpx2.AsyncClient, db: Database) -> None:
    """Invitation-only by default: the first account (the setup) needs none, the next one does."""
    first = await client.post(f"{API}/users", json={"username": "Ada", "password": "a-long-password"})
    assert first.status_code == 201
    assert first.json() == {
        "id": first.json()["id"],
        "username": "ada",
        "display_name": "Ada",
        "role": "admin",
        "is_bot": False,
        "active": True,
    }
    ben = {"username": "ben", "password": "a-long-password", "display_name": "Ben B."}
    await expect(client, db, "POST", "/users", 403, "invitation_required", json=ben)
    await set_registration_mode(db, "open")  # an admin opens registration: in force at once
    second = await client.post(
        f"{API}/users", json={"username": "ben", "password": "a-long-password", "display_name": "Ben B."}
    )
    assert second.status_code == 201 and second.json()["role"] == "member"
    assert second.json()["display_name"] == "Ben B."
    assert await event_kinds(db) == ["user.created", "user.created"]
    login = await client.post(f"{API}/session", json={"username": "BEN", "password": "a-long-password"})
    assert login.status_code == 200


BAD_REGISTRATIONS = [
    ({"username": "dora", "password": "a-long-password", "role": "admin"}, 422, "unknown_field"),
    ({"username": "dora", "password": "a-long-password", "is_bot": True}, 422, "unknown_field"),
    ({"username": 5, "password": "a-long-password"}, 422, "wrong_type"),
    ({"username": "dora", "password": ["a-long-password"]}, 422, "wrong_type"),
    ({"username": "dora", "password": "a-long-password", "display_name": 7}, 422, "wrong_type"),
    ({"username": "dora"}, 422, "missing_field"),
    ({"username": "d" * 41, "password": "a-long-password"}, 422, "too_long"),
    ({"username": "dora", "password": "a-long-password", "display_name": "D" * 81}, 422, "too_long"),
    ({"username": "dora smith", "password": "a-long-password"}, 422, "bad_format"),
    ({"username": "-dora", "password": "a-long-password"}, 422, "bad_format"),
    ({"username": "dóra", "password": "a-long-password"}, 422, "bad_format"),
    ({"username": "dora\u0000", "password": "a-long-password"}, 422, "bad_format"),
    ({"username": "dora", "password": "short"}, 422, "password_too_short"),
    ({"username": "dora", "password": "p" * 300}, 422, "password_too_long"),
    ({"username": "BOB", "password": "a-long-password"}, 409, "username_taken"),
    ({"username": "all", "password": "a-long-password"}, 422, "username_reserved"),
    ({"username": "dora", "password": "a-long-password", "invite": "forged"}, 403, "invalid_invitation"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_REGISTRATIONS)
async def test_bad_registrations_change_nothing(
    client: httpx2.AsyncClient, db: Database, cast: Cast, body: Any, status: int, code: str
) -> None:
    await set_registration_mode(db, "open")  # so that each refusal is about the body itself
    await expect(client, db, "POST", "/users", status, code, json=body)


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [(b"{not json", 400, "malformed_json"), (b"\xff\xfe", 400, "malformed_json"), (b"[]", 422, "invalid_body")],
)
async def test_unreadable_bodies_change_nothing(
    client: httpx2.AsyncClient, db: Database, cast: Cast, content: bytes, status: int, code: str
) -> None:
    await expect(
        client, db, "POST", "/users", status, code, content=content, headers={"Content-Type": "application/json"}
    )


async def test_a_huge_or_long_password_is_refused_without_hashing(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = await as_user(client, app, cast.bob)
    monkeypatch.setattr(passwords, "_context", NoHashing())
    huge = "p" * (1024 * 1024)
    await expect(client, db, "POST", "/users", 413, "body_too_large", json={"username": "dora", "password": huge})
    await expect(
        client, db, "POST", "/users", 422, "password_too_long", json={"username": "dora", "password": "p" * 300}
    )
    await expect(client, db, "POST", "/session", 413, "body_too_large", json={"username": "bob", "password": huge})
    await expect(client, db, "POST", "/session", 422, "too_long", json={"username": "bob", "password": "p" * 300})
    await expect(
        client, db, "PATCH", "/me", 422, "password_too_long", headers=bob,
        json={"password": "p" * 300, "current_password": password_of("bob")},
    )  # fmt: skip


@pytest.fixture
async def invite_only(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(settings.replace(registration_mode="invite"))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client
    await app.state.services.db.dispose()


async def test_invite_mode_registration_with_a_guest_invitation(
    invite_only: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    client = invite_only
    body = {"username": "vera", "password": "a-long-password"}
    await expect(client, db, "POST", "/users", 403, "invitation_required", json=body)
    project = await new_conversation(db, cast.maya, "client-project", "private")
    maya = await as_user(client, app, cast.maya)
    created = await client.post(
        f"{API}/invitations",
        headers=maya,
        json={"role": "guest", "conversation_ids": [project], "email": "v@x.example"},
    )
    assert created.status_code == 201, created.text
    invitation = created.json()
    assert invitation["role"] == "guest" and invitation["conversation_ids"] == [project] and invitation["code"]
    mark = await last_event_id(db)
    vera = await client.post(f"{API}/users", json={**body, "invite": invitation["code"]})
    assert vera.status_code == 201 and vera.json()["role"] == "guest"
    assert await event_kinds(db, mark) == ["user.created", "invitation.used", "member.invited"]
    assert vera.json()["id"] in await member_ids(db, project)
    again = {"username": "vera2", "password": "a-long-password", "invite": invitation["code"]}
    await expect(client, db, "POST", "/users", 403, "invalid_invitation", json=again)
    login = await client.post(f"{API}/session", json=body)
    assert login.status_code == 200
    directory = await client.get(f"{API}/users")
    assert [u["username"] for u in directory.json()["users"]] == ["maya", "vera"]


async def test_invitation_rules(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> None:
    bob, maya = await as_user(client, app, cast.bob), await as_user(client, app, cast.maya)
    hidden = await new_conversation(db, cast.bob, "bobs-group", "private")
    await expect(client, db, "POST", "/invitations", 403, "cannot_invite", headers=bob, json={"role": "member"})
    await expect(client, db, "POST", "/invitations", 401, "not_authenticated", json={"role": "member"})
    for body, status, code in (
        ({"role": "guest", "conversation_ids": [hidden]}, 404, "conversation_not_found"),
        ({"role": "guest", "conversation_ids": [123456]}, 404, "conversation_not_found"),
        ({"role": "guest", "conversation_ids": []}, 422, "guest_needs_conversations"),
        ({"role": "guest"}, 422, "guest_needs_conversations"),
        ({"role": "admin"}, 422, "wrong_value"),
        ({"role": "member", "conversation_ids": ["1"]}, 422, "wrong_type"),
        ({"role": "member", "conversation_ids": [0]}, 422, "out_of_range"),
        ({"role": "member", "conversation_ids": [2**70]}, 422, "out_of_range"),
        ({"role": "member", "email": "not an email"}, 422, "bad_format"),
        ({"role": "member", "expires_in_days": 365}, 422, "out_of_range"),
        ({"role": "member", "used_by": 1}, 422, "unknown_field"),
    ):
        await expect(client, db, "POST", "/invitations", status, code, headers=maya, json=body)
    ok = await client.post(f"{API}/invitations", headers=maya, json={"role": "member"})
    assert ok.status_code == 201 and await event_kinds(db, await last_event_id(db) - 1) == ["invitation.created"]


# --- your account -------------------------------------------------------------------------------


async def test_me_and_mass_assignment(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> None:
    bob = await as_user(client, app, cast.bob)
    me = await client.get(f"{API}/me", headers=bob)
    assert me.json()["username"] == "bob" and me.json()["role"] == "member"
    for body, status, code in (
        ({"role": "admin"}, 422, "unknown_field"),
        ({"display_name": "Bob", "active": False}, 422, "unknown_field"),
        ({"username": "robert"}, 422, "unknown_field"),
        ({"display_name": None}, 422, "nothing_to_change"),
        ({"display_name": 3}, 422, "wrong_type"),
        ({"display_name": "B" * 81}, 422, "too_long"),
        ({}, 422, "nothing_to_change"),
        ({"password": "new-password-1"}, 422, "missing_field"),
        ({"password": "new-password-1", "current_password": "wrong"}, 403, "wrong_password"),
    ):
        await expect(client, db, "PATCH", "/me", status, code, headers=bob, json=body)
    await expect(client, db, "PATCH", "/me", 401, "not_authenticated", json={"display_name": "X"})
    await expect(client, db, "GET", "/me", 401, "not_authenticated")
    changed = await client.patch(f"{API}/me", headers=bob, json={"display_name": "Robert"})
    assert changed.status_code == 200 and changed.json()["display_name"] == "Robert"
    assert changed.json()["role"] == "member"


async def test_password_change_over_http(client: httpx2.AsyncClient, cast: Cast) -> None:
    login = await client.post(f"{API}/session", json={"username": "bob", "password": password_of("bob")})
    assert login.status_code == 200
    changed = await client.patch(
        f"{API}/me", json={"password": "brand-new-pass", "current_password": password_of("bob")}
    )
    assert changed.status_code == 200
    assert (await client.get(f"{API}/me")).status_code == 200  # this session survives
    client.cookies.clear()
    old = await client.post(f"{API}/session", json={"username": "bob", "password": password_of("bob")})
    new = await client.post(f"{API}/session", json={"username": "bob", "password": "brand-new-pass"})
    assert (old.status_code, new.status_code) == (401, 200)


async def test_logout_with_a_token_changes_nothing(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    bob = await as_user(client, app, cast.bob)
    before = await counts(db)
    assert (await client.delete(f"{API}/session", headers=bob)).status_code == 204
    assert await counts(db) == before
    await expect(client, db, "DELETE", "/session", 401, "not_authenticated")


# --- tokens -------------------------------------------------------------------------------------


async def test_token_lifecycle(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> None:
    bob = await as_user(client, app, cast.bob)
    created = await client.post(f"{API}/tokens", headers=bob, json={"name": "backup script"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("salon_") and token.startswith(created.json()["prefix"])
    listed = await client.get(f"{API}/tokens", headers=bob)
    assert token not in listed.text and "token_hash" not in listed.text
    assert [t["name"] for t in listed.json()["tokens"]] == ["test token for bob", "backup script"]
    mine = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"{API}/me", headers=mine)).json()["username"] == "bob"
    carol = await as_user(client, app, cast.carol)
    token_id = created.json()["id"]
    await expect(client, db, "DELETE", f"/tokens/{token_id}", 404, "token_not_found", headers=carol)
    assert (await client.delete(f"{API}/tokens/{token_id}", headers=bob)).status_code == 204
    await expect(client, db, "GET", "/me", 401, "not_authenticated", headers=mine)
    await expect(client, db, "DELETE", f"/tokens/{token_id}", 404, "token_not_found", headers=bob)
    await expect(client, db, "DELETE", f"/tokens/{2**70}", 404, "not_found", headers=bob)
    for body, code in (({}, "missing_field"), ({"name": ""}, "empty"), ({"name": "n" * 81}, "too_long")):
        await expect(client, db, "POST", "/tokens", 422, code, headers=bob, json=body)
    await expect(client, db, "POST", "/tokens", 401, "not_authenticated", json={"name": "x"})


# --- directory and admin ------------------------------------------------------------------------


async def test_directory(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> None:
    everyone = ["alice", "bob", "carol", "gus", "maya", "robot"]
    bob = await as_user(client, app, cast.bob)
    listed = await client.get(f"{API}/users", headers=bob)
    assert [u["username"] for u in listed.json()["users"]] == everyone
    gus = await as_user(client, app, cast.gus)
    assert [u["username"] for u in (await client.get(f"{API}/users", headers=gus)).json()["users"]] == ["gus"]
    await expect(client, db, "GET", "/users?include_inactive=true", 403, "admin_required", headers=bob)
    await expect(client, db, "GET", "/users?include_inactive=maybe", 422, "wrong_type", headers=bob)
    await expect(client, db, "GET", "/users", 401, "not_authenticated")


async def test_admin_changes_users(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> None:
    alice, maya = await as_user(client, app, cast.alice), await as_user(client, app, cast.maya)
    carol_token = await as_user(client, app, cast.carol)
    path = f"/users/{cast.carol.id}"
    for headers, body, status, code in (
        (maya, {"role": "admin"}, 403, "admin_required"),
        ({}, {"role": "admin"}, 401, "not_authenticated"),
        (alice, {"role": "superuser"}, 422, "wrong_value"),
        (alice, {"active": "no"}, 422, "wrong_type"),
        (alice, {"role": "admin", "active": True}, 422, "one_change_at_a_time"),
        (alice, {}, 422, "nothing_to_change"),
        (alice, {"display_name": "C"}, 422, "unknown_field"),
    ):
        await expect(client, db, "PATCH", path, status, code, headers=headers, json=body)
    await expect(client, db, "PATCH", "/users/999999", 404, "user_not_found", headers=alice, json={"role": "admin"})
    await expect(client, db, "PATCH", f"/users/{2**70}", 404, "not_found", headers=alice, json={"active": False})
    await expect(
        client, db, "PATCH", f"/users/{cast.alice.id}", 409, "last_admin", headers=alice, json={"role": "member"}
    )
    mark = await last_event_id(db)
    promoted = await client.patch(API + path, headers=alice, json={"role": "moderator"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "moderator"
    off = await client.patch(API + path, headers=alice, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    await expect(client, db, "GET", "/me", 401, "not_authenticated", headers=carol_token)
    on = await client.patch(API + path, headers=alice, json={"active": True})
    assert on.json()["active"] is True
    assert await event_kinds(db, mark) == ["user.role_changed", "user.deactivated", "user.reactivated"]
    listed = await client.get(f"{API}/users?include_inactive=true", headers=alice)
    assert listed.status_code == 200


# --- rate limits --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def limit(app: Starlette, settings: Settings, **limits: int) -> FakeClock:
    clock = FakeClock()
    limiters = Limiters.from_settings(settings.replace(**limits), clock=clock)
    app.state.services = dataclasses.replace(app.state.services, limiters=limiters)
    return clock


async def test_failed_logins_are_limited_per_account(
    client: httpx2.AsyncClient, app: Starlette, settings: Settings, cast: Cast
) -> None:
    clock = limit(app, settings, login_limit_per_account=2, login_limit_window_s=60)
    wrong = {"username": "bob", "password": "guess-guess"}
    unknown = await client.post(f"{API}/session", json={"username": "nobody", "password": "guess-guess"})
    first = await client.post(f"{API}/session", json=wrong)
    assert (unknown.status_code, first.status_code) == (401, 401)
    assert unknown.json() == first.json()  # an unknown user and a wrong password read the same
    await client.post(f"{API}/session", json=wrong)
    clock.now = 10
    blocked = await client.post(f"{API}/session", json={"username": "Bob", "password": password_of("bob")})
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "too_many_logins"
    assert blocked.headers["Retry-After"] == "50"
    other = await client.post(f"{API}/session", json={"username": "carol", "password": password_of("carol")})
    assert other.status_code == 200
    clock.now = 61
    assert (
        await client.post(f"{API}/session", json={"username": "bob", "password": password_of("bob")})
    ).status_code == 200


async def test_logins_are_limited_per_address(
    client: httpx2.AsyncClient, app: Starlette, settings: Settings, cast: Cast
) -> None:
    limit(app, settings, login_limit_per_address=3, login_limit_per_account=0)
    for name in ("alice", "bob", "carol"):
        assert (
            await client.post(f"{API}/session", json={"username": name, "password": "x-x-x-x-x"})
        ).status_code == 401
    refused = await client.post(f"{API}/session", json={"username": "maya", "password": password_of("maya")})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


async def test_wrong_current_passwords_count_as_failed_logins(
    client: httpx2.AsyncClient, app: Starlette, settings: Settings, cast: Cast
) -> None:
    limit(app, settings, login_limit_per_account=1)
    bob = await as_user(client, app, cast.bob)
    body = {"password": "new-password-1", "current_password": "guess-guess"}
    assert (await client.patch(f"{API}/me", headers=bob, json=body)).status_code == 403
    assert (await client.patch(f"{API}/me", headers=bob, json=body)).status_code == 429


async def test_registrations_are_limited_per_address(
    client: httpx2.AsyncClient, app: Starlette, db: Database, settings: Settings, cast: Cast
) -> None:
    limit(app, settings, register_limit_per_address=1)
    await set_registration_mode(db, "open")
    ok = await client.post(f"{API}/users", json={"username": "dora", "password": "a-long-password"})
    assert ok.status_code == 201
    await expect(
        client, db, "POST", "/users", 429, "too_many_registrations", json={"username": "erin", "password": "a-long-pw"}
    )


async def test_the_limiters_are_built_from_the_settings(app: Starlette) -> None:
    svc = app.state.services
    assert svc.limiters.login_account.limit == svc.settings.login_limit_per_account
    assert svc.limiters.register_address.limit == svc.settings.register_limit_per_address
    assert (svc.post_limiter.limit, svc.post_limiter.window_s) == (
        svc.settings.post_limit_per_user,
        svc.settings.post_limit_window_s,
    )

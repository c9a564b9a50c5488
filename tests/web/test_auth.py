"""Authentication on the API: the session cookie, bearer tokens, CSRF, deactivation, expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import update
from starlette.applications import Starlette

from chat.accounts.commands import UpdateUser
from chat.accounts.sessions import COOKIE_NAME, session_id_of
from chat.accounts.users import update_user
from chat.app import create_app
from chat.config import Settings
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts
from tests.factories import Cast, password_of
from tests.web.authhelp import as_user

API = "/api/v1"
EVIL = "https://evil.example"


@asynccontextmanager
async def server(settings: Settings, base_url: str = "http://testserver") -> AsyncIterator[httpx2.AsyncClient]:
    """A second app on the same database, with other settings."""
    app = create_app(settings)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base_url) as client:
            yield client
    finally:
        await app.state.services.db.dispose()


async def log_in(client: httpx2.AsyncClient, username: str, **headers: str) -> httpx2.Response:
    response = await client.post(
        f"{API}/session", json={"username": username, "password": password_of(username)}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response


def cookie(secret: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={secret}"}


def cookie_attributes(response: httpx2.Response) -> dict[str, Any]:
    (header,) = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    name_value, *attrs = [part.strip() for part in header.split(";")]
    out: dict[str, Any] = {"name": name_value.split("=", 1)[0], "value": name_value.split("=", 1)[1]}
    for attr in attrs:
        key, _, value = attr.partition("=")
        out[key.lower()] = value or True
    return out


async def test_login_sets_a_strict_session_cookie(client: httpx2.AsyncClient, cast: Cast, settings: Settings) -> None:
    response = await log_in(client, "bob")
    assert response.json()["user"]["username"] == "bob" and "expires_at" in response.json()
    cookie = cookie_attributes(response)
    assert cookie["name"] == COOKIE_NAME and len(cookie["value"]) >= 40
    assert cookie["httponly"] is True and cookie["samesite"] == "lax" and cookie["path"] == "/"
    assert cookie["max-age"] == str(settings.session_days * 86400)
    assert "secure" not in cookie  # plain http: a Secure cookie would never come back
    me = await client.get(f"{API}/me")
    assert me.status_code == 200 and me.json()["username"] == "bob"


async def test_behind_tls_the_cookie_is_secure(cast: Cast, settings: Settings) -> None:
    async with server(
        settings.replace(public_origin="https://chat.example.com"), base_url="https://chat.example.com"
    ) as client:
        response = await log_in(client, "bob", origin="https://chat.example.com")
    assert cookie_attributes(response)["secure"] is True


async def test_logout_revokes_the_session(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    secret = cookie_attributes(await log_in(client, "bob"))["value"]
    response = await client.delete(f"{API}/session")
    assert response.status_code == 204
    assert cookie_attributes(response)["max-age"] == "0"
    async with db.read() as s:
        assert await s.get(models.WebSession, session_id_of(secret)) is None
    client.cookies.clear()
    stale = await client.get(f"{API}/me", headers=cookie(secret))
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "not_authenticated"


async def test_login_rotates_and_revokes_the_presented_session(client: httpx2.AsyncClient, cast: Cast) -> None:
    first = cookie_attributes(await log_in(client, "bob"))["value"]
    second = cookie_attributes(await log_in(client, "bob"))["value"]  # the client sends the first cookie along
    assert first != second
    client.cookies.clear()
    assert (await client.get(f"{API}/me", headers=cookie(first))).status_code == 401
    assert (await client.get(f"{API}/me", headers=cookie(second))).status_code == 200


async def test_expired_sessions_are_refused(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    secret = cookie_attributes(await log_in(client, "bob"))["value"]
    async with db.transaction() as s:
        await s.execute(
            update(models.WebSession)
            .where(models.WebSession.id == session_id_of(secret))
            .values(expires_at=models.utcnow() - timedelta(minutes=1))
        )
    assert (await client.get(f"{API}/me")).status_code == 401


async def test_deactivated_users_are_refused_on_every_door(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    bearer = await as_user(client, app, cast.bob)
    await log_in(client, "bob")
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.bob.id, UpdateUser(active=False))
    for headers in (bearer, {}):
        response = await client.get(f"{API}/me", headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    client.cookies.clear()
    again = await client.post(f"{API}/session", json={"username": "bob", "password": password_of("bob")})
    assert again.status_code == 401 and again.json()["error"]["code"] == "account_deactivated"


async def test_bearer_tokens_work_for_users_and_bots(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    for actor in (cast.carol, cast.robot):
        me = await client.get(f"{API}/me", headers=await as_user(client, app, actor))
        assert me.status_code == 200 and me.json()["username"] == actor.username


@pytest.mark.parametrize(
    "header", ["Bearer salon_nope", "Bearer", "Basic Ym9iOnB3", "bearer  ", "Bearer " + "x" * 5000]
)
async def test_bad_authorization_headers_authenticate_nobody(client: httpx2.AsyncClient, header: str) -> None:
    response = await client.get(f"{API}/me", headers={"Authorization": header})
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


async def test_a_bearer_header_wins_over_the_cookie(client: httpx2.AsyncClient, cast: Cast) -> None:
    await log_in(client, "bob")
    response = await client.get(f"{API}/me", headers={"Authorization": "Bearer salon_revoked-or-unknown"})
    assert response.status_code == 401


# --- CSRF -------------------------------------------------------------------------------------------


async def test_cookie_requests_from_another_origin_are_refused(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    await log_in(client, "bob")
    before = await counts(db)
    malformed = ({"Origin": "http://["}, {"Origin": "http://testserver:99999"}, {"Origin": "http://[::1"})
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}, *malformed):
        response = await client.post(f"{API}/tokens", json={"name": "x"}, headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed", headers
        logout = await client.delete(f"{API}/session", headers=headers)
        assert logout.status_code == 403
    assert await counts(db) == before
    same = await client.post(
        f"{API}/tokens", json={"name": "x"}, headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    )
    assert same.status_code == 201
    no_browser = await client.post(f"{API}/tokens", json={"name": "y"})  # curl sends neither header
    assert no_browser.status_code == 201
    read = await client.get(f"{API}/me", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert read.status_code == 200  # safe methods change nothing


async def test_bearer_requests_are_exempt(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    headers = {**await as_user(client, app, cast.bob), "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    assert (await client.post(f"{API}/tokens", json={"name": "x"}, headers=headers)).status_code == 201


async def test_login_and_registration_refuse_other_origins(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    before = await counts(db)
    login = await client.post(
        f"{API}/session", json={"username": "bob", "password": password_of("bob")}, headers={"Origin": EVIL}
    )
    register = await client.post(
        f"{API}/users",
        json={"username": "dora", "password": "a-long-password"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert (login.status_code, register.status_code) == (403, 403)
    assert await counts(db) == before
    assert COOKIE_NAME not in client.cookies


async def test_allowed_and_public_origins(settings: Settings, cast: Cast) -> None:
    configured = settings.replace(
        public_origin="https://chat.example.com", allowed_origins=("https://app.example.com",)
    )
    async with server(configured) as client:
        for origin, status in (
            ("https://chat.example.com", 200),
            ("https://chat.example.com:443", 200),
            ("https://app.example.com", 200),
            ("http://testserver", 403),  # the public origin replaces the request's own
            ("https://chat.example.com.evil.example", 403),
        ):
            response = await client.post(
                f"{API}/session", json={"username": "bob", "password": password_of("bob")}, headers={"Origin": origin}
            )
            assert response.status_code == status, origin

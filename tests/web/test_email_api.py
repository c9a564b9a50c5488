"""The e-mail REST API and the confirmation page, with a real SMTP server (aiosmtpd) as the relay.

Every refused request is checked to change nothing: no confirmation stored, no mail sent.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select, update
from starlette.applications import Starlette

from chat.app import create_app
from chat.config import Settings
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import last_event_id, record_published, set_registration_mode
from tests.factories import Cast
from tests.integration.server import free_port
from tests.mail.smtpd import Received, SmtpSink
from tests.web.authhelp import as_user

API = "/api/v1"
TOKEN = re.compile(r"/confirm-email\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        yield smtp


@pytest.fixture
def settings(settings: Settings, sink: SmtpSink) -> Settings:
    return dataclasses.replace(settings, smtp_url=sink.url)


@pytest.fixture
async def no_relay(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    """The same database, served by an app without CHAT_SMTP_URL."""
    app = create_app(dataclasses.replace(settings, smtp_url=""))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c
    await app.state.services.db.dispose()


class Refusing:
    """A relay that answers every recipient with 550."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        return "550 5.1.1 mailbox unavailable"


def token_of(mail: Received) -> str:
    found = TOKEN.search(mail.text)
    assert found is not None, mail.text
    assert f"http://testserver/confirm-email?token={found.group(1)}" in mail.html
    return found.group(1)


async def pending_rows(db: Database) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(models.EmailConfirmation)) or 0)


async def me(client: httpx2.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{API}/me/email", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def refused(
    client: httpx2.AsyncClient, db: Database, method: str, path: str, status: int, code: str, **kw: Any
) -> httpx2.Response:
    before = (await pending_rows(db), await last_event_id(db))
    response = await client.request(method, API + path, **kw)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert (await pending_rows(db), await last_event_id(db)) == before
    return response


async def test_set_confirm_in_another_browser_and_see_it_verified(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    bob = await as_user(client, app, cast.bob)
    assert await me(client, bob) == {"email": None, "verified": False, "pending": None}
    response = await client.put(f"{API}/me/email", json={"email": "Bob@Example.COM"}, headers=bob)
    assert (response.status_code, response.json()) == (202, {"pending": "Bob@example.com"})
    [mail] = await sink.wait_for(1, to="Bob@example.com")
    assert mail.message["Subject"] == "Confirm your e-mail address for Salon"
    token = token_of(mail)
    assert await me(client, bob) == {"email": None, "verified": False, "pending": "Bob@example.com"}

    page = await client.get("/confirm-email", params={"token": token})  # what a mail scanner does too
    assert page.status_code == 200 and "Bob@example.com" in page.text and 'data-state="ask"' in page.text
    assert (await me(client, bob))["verified"] is False  # a GET changes nothing

    published = record_published(db)
    done = await client.post(f"{API}/email/confirm", json={"token": token})  # signed out: another browser
    assert (done.status_code, done.json()) == (200, {"email": "Bob@example.com", "verified": True})
    assert "set-cookie" not in done.headers  # confirming signs nobody in
    assert await me(client, bob) == {"email": "Bob@example.com", "verified": True, "pending": None}
    assert [(e.kind, e.audience, e.subject_id) for e in published] == [("user.email_verified", "subject", cast.bob.id)]
    assert token not in str(published[0].data)

    await refused(client, db, "POST", "/email/confirm", 404, "confirmation_not_found", json={"token": token})
    assert len(sink.messages) == 1


async def test_the_page_confirms_only_with_its_button(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    bob = await as_user(client, app, cast.bob)
    await client.put(f"{API}/me/email", json={"email": "bob@example.com"}, headers=bob)
    token = token_of((await sink.wait_for(1))[0])
    cross = await client.post(
        "/confirm-email",
        data={"token": token},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403 and (await me(client, bob))["verified"] is False
    done = await client.post("/confirm-email", data={"token": token}, headers={"Origin": "http://testserver"})
    assert done.status_code == 200 and 'data-state="done"' in done.text and "bob@example.com" in done.text
    assert (await me(client, bob))["verified"] is True
    again = await client.get("/confirm-email", params={"token": token})
    assert again.status_code == 404 and 'data-code="confirmation_not_found"' in again.text
    forged = await client.get("/confirm-email", params={"token": "forged"})
    assert forged.status_code == 404


async def test_forged_expired_and_taken(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    bob, carol = await as_user(client, app, cast.bob), await as_user(client, app, cast.carol)
    await client.put(f"{API}/me/email", json={"email": "desk@example.com"}, headers=bob)
    await client.put(f"{API}/me/email", json={"email": "desk@example.com"}, headers=carol)
    bobs, carols = (token_of(m) for m in await sink.wait_for(2))
    await refused(client, db, "POST", "/email/confirm", 404, "confirmation_not_found", json={"token": bobs[:-2]})
    await refused(client, db, "POST", "/email/confirm", 422, "empty", json={"token": ""})
    await refused(client, db, "POST", "/email/confirm", 422, "too_long", json={"token": "x" * 129})

    assert (await client.post(f"{API}/email/confirm", json={"token": bobs})).status_code == 200
    await refused(client, db, "POST", "/email/confirm", 409, "email_taken", json={"token": carols})
    await refused(client, db, "PUT", "/me/email", 409, "email_taken", json={"email": "DESK@example.com"}, headers=carol)
    assert (await me(client, carol))["verified"] is False

    await client.put(f"{API}/me/email", json={"email": "carol@example.com"}, headers=carol)
    token = token_of((await sink.wait_for(3))[2])
    async with db.transaction() as s:  # the clock moves past the 48 hours
        await s.execute(update(models.EmailConfirmation).values(expires_at=models.utcnow() - timedelta(minutes=1)))
    await refused(client, db, "POST", "/email/confirm", 410, "confirmation_expired", json={"token": token})
    page = await client.get("/confirm-email", params={"token": token})
    assert page.status_code == 410 and 'data-code="confirmation_expired"' in page.text
    assert await me(client, carol) == {"email": None, "verified": False, "pending": None}


@pytest.mark.parametrize("body", [{"email": "not an address"}, {"email": "a@b"}, {"email": 5}, {"mail": "a@b.c"}])
async def test_bad_addresses_are_refused_before_any_mail(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink, body: dict[str, Any]
) -> None:
    bob = await as_user(client, app, cast.bob)
    response = await client.put(f"{API}/me/email", json=body, headers=bob)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("invalid_email", "wrong_type", "unknown_field", "missing_field")
    assert await pending_rows(db) == 0 and sink.messages == []


async def test_no_relay_stores_nothing(
    no_relay: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    bob = await as_user(no_relay, app, cast.bob)
    await refused(
        no_relay, db, "PUT", "/me/email", 503, "mail_unavailable", json={"email": "bob@example.com"}, headers=bob
    )
    assert await me(no_relay, bob) == {"email": None, "verified": False, "pending": None}
    await set_registration_mode(db, "open")  # registration does not fail without a relay, and keeps no link
    new = await no_relay.post(
        f"{API}/users", json={"username": "dana", "password": "a-long-password", "email": "dana@example.com"}
    )
    assert (new.status_code, new.json()["confirmation_sent"]) == (201, False)
    assert await pending_rows(db) == 0 and sink.messages == []


@pytest.mark.parametrize("relay", ["unreachable", "refusing"])
async def test_a_relay_that_fails_leaves_nothing_half_done(
    settings: Settings, db: Database, cast: Cast, relay: str
) -> None:
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port) if relay == "refusing" else None
    if controller is not None:
        controller.start()
    app = create_app(dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as c:
            bob = await as_user(c, app, cast.bob)
            await refused(c, db, "PUT", "/me/email", 502, "mail_failed", json={"email": "bob@example.com"}, headers=bob)
            assert await me(c, bob) == {"email": None, "verified": False, "pending": None}
            # registration does not fail with the relay: the account exists, the link was not kept
            await set_registration_mode(db, "open")
            new = await c.post(
                f"{API}/users", json={"username": "dana", "password": "a-long-password", "email": "dana@example.com"}
            )
            assert new.status_code == 201, new.text
            assert new.json()["email_pending"] == "dana@example.com" and new.json()["confirmation_sent"] is False
            assert await pending_rows(db) == 0
    finally:
        await app.state.services.db.dispose()
        if controller is not None:
            controller.stop()


async def test_confirmations_are_rate_limited_per_account(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    bob = await as_user(client, app, cast.bob)
    for i in range(5):
        response = await client.put(f"{API}/me/email", json={"email": f"bob{i}@example.com"}, headers=bob)
        assert response.status_code == 202
    await sink.wait_for(5)
    limited = await refused(
        client, db, "PUT", "/me/email", 429, "too_many_confirmations", json={"email": "bob9@example.com"}, headers=bob
    )
    assert int(limited.headers["retry-after"]) > 0
    carol = await as_user(client, app, cast.carol)  # another account is not limited
    assert (await client.put(f"{API}/me/email", json={"email": "carol@example.com"}, headers=carol)).status_code == 202
    assert len(sink.to("bob9@example.com")) == 0


async def test_remove_the_address(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    bob = await as_user(client, app, cast.bob)
    await client.put(f"{API}/me/email", json={"email": "bob@example.com"}, headers=bob)
    await client.post(f"{API}/email/confirm", json={"token": token_of((await sink.wait_for(1))[0])})
    published = record_published(db)
    assert (await client.delete(f"{API}/me/email", headers=bob)).status_code == 204
    assert await me(client, bob) == {"email": None, "verified": False, "pending": None}
    assert [(e.kind, e.audience) for e in published] == [("user.email_removed", "subject")]


async def test_an_admin_sends_a_confirmation_for_a_user(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    alice, carol = await as_user(client, app, cast.alice), await as_user(client, app, cast.carol)
    body = {"email": "bob@example.com"}
    await refused(client, db, "PUT", f"/users/{cast.bob.id}/email", 403, "admin_required", json=body, headers=carol)
    await refused(client, db, "PUT", "/users/999999/email", 404, "user_not_found", json=body, headers=alice)
    await refused(client, db, "PUT", f"/users/{cast.bob.id}/email", 401, "not_authenticated", json=body)
    assert sink.messages == []
    published = record_published(db)
    response = await client.put(f"{API}/users/{cast.bob.id}/email", json=body, headers=alice)
    assert (response.status_code, response.json()) == (202, {"pending": "bob@example.com"})
    assert [(e.kind, e.audience, e.actor) for e in published] == [("user.email_requested", "admins", cast.alice.id)]
    token = token_of((await sink.wait_for(1, to="bob@example.com"))[0])
    assert (await client.post(f"{API}/email/confirm", json={"token": token})).status_code == 200
    assert (await me(client, await as_user(client, app, cast.bob)))["verified"] is True
    page = await client.get("/admin/users", headers=alice)
    assert page.status_code == 200 and "bob@example.com" in page.text


async def test_domains_mode_registers_without_invitation_and_waits_for_the_address(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    alice = await as_user(client, app, cast.alice)
    change = {"registration_mode": "domains", "allowed_domains": ["example.com"]}
    response = await client.patch(f"{API}/settings", json=change, headers=alice)
    assert response.status_code == 200 and response.json()["registration_mode"] == "domains"
    page = await client.get("/register")
    assert 'id="email"' in page.text and re.search(r'id="email"[^>]*required', page.text)

    dana = {"username": "dana", "password": "a-long-password"}
    await refused(client, db, "POST", "/users", 403, "invitation_required", json=dana)
    other = {**dana, "email": "dana@example.org"}
    await refused(client, db, "POST", "/users", 403, "email_domain_not_allowed", json=other)
    created = await client.post(f"{API}/users", json={**dana, "email": "Dana@Example.com"})
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "member" and created.json()["confirmation_sent"] is True

    login = {"username": "dana", "password": "a-long-password"}
    refused_login = await client.post(f"{API}/session", json=login)
    assert (refused_login.status_code, refused_login.json()["error"]["code"]) == (403, "email_unverified")
    assert "set-cookie" not in refused_login.headers
    wrong = await client.post(f"{API}/session", json={**login, "password": "wrong-password"})
    assert wrong.json()["error"]["code"] == "invalid_credentials"  # nothing told without the password

    token = token_of((await sink.wait_for(1, to="Dana@example.com"))[0])
    assert (await client.post(f"{API}/email/confirm", json={"token": token})).status_code == 200
    assert (await client.post(f"{API}/session", json=login)).status_code == 200


async def test_domains_mode_needs_a_relay(
    no_relay: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    alice = await as_user(no_relay, app, cast.alice)
    body = {"registration_mode": "domains"}
    await refused(no_relay, db, "PATCH", "/settings", 422, "email_verification_unavailable", json=body, headers=alice)
    page = await no_relay.get("/admin/settings", headers=alice)
    assert '<option value="domains" disabled' in page.text
    assert Settings(registration_mode="domains", smtp_url="smtp://127.0.0.1:2525").registration_mode == "domains"


async def test_registration_with_an_address_mails_its_link(
    client: httpx2.AsyncClient, db: Database, cast: Cast, sink: SmtpSink
) -> None:
    await set_registration_mode(db, "open")
    created = await client.post(
        f"{API}/users", json={"username": "erin", "password": "a-long-password", "email": "erin@example.net"}
    )
    assert created.status_code == 201 and created.json()["confirmation_sent"] is True
    login = await client.post(f"{API}/session", json={"username": "erin", "password": "a-long-password"})
    assert login.status_code == 200  # open mode: the address is optional and does not gate the login
    token = token_of((await sink.wait_for(1, to="erin@example.net"))[0])
    assert (await client.post(f"{API}/email/confirm", json={"token": token})).json()["verified"] is True

"""Verified e-mail addresses (chat.accounts.emails): links stored hashed, used once, expiring; taken
addresses; removal; who may ask; only a proved address is ever one Salon may mail."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from chat.accounts import emails
from chat.accounts.registration import RegisterRequest, register_with_email
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import events_after, last_event_id
from tests.factories import Cast


async def ask(db: Database, actor: Actor, user: Actor, address: str) -> emails.PendingConfirmation:
    async with db.transaction() as s:
        return await emails.request_confirmation(s, actor, user.id, address)


async def use(db: Database, token: str) -> emails.EmailConfirmed:
    async with db.transaction() as s:
        return await emails.confirm(s, token)


async def status(db: Database, actor: Actor) -> emails.EmailStatus:
    async with db.read() as s:
        return await emails.get_email(s, actor)


async def mailable(db: Database, actor: Actor) -> str | None:
    async with db.read() as s:
        return await emails.verified_address(s, actor.id)


async def confirmations(db: Database) -> list[models.EmailConfirmation]:
    async with db.read() as s:
        return list(await s.scalars(select(models.EmailConfirmation)))


async def fails(code: str, work: object) -> ChatError:
    with pytest.raises(ChatError) as caught:
        await work  # type: ignore[misc]
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Bob@Example.COM", "Bob@example.com"),
        ("  ana.b+chat@mail.example.org ", "ana.b+chat@mail.example.org"),
        ("o'neil@example.fr", "o'neil@example.fr"),
    ],
)
def test_addresses_are_trimmed_and_their_domain_lower_cased(raw: str, stored: str) -> None:
    assert emails.normalize_address(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "bob",
        "bob@",
        "@example.com",
        "bob@example",
        "bob@@example.com",
        "bob@ex@ample.com",
        "bo b@example.com",
        "bob@exa mple.com",
        "bob\n@example.com",
        "bob@example.com\r\nBcc: x@evil.example",
        "bob\x00@example.com",
        ".bob@example.com",
        "bo..b@example.com",
        "b" * 65 + "@example.com",
        "bob@" + "a" * 250 + ".com",
        "bob@-example.com",
        "bøb@example.com",
    ],
)
def test_what_is_not_an_address_is_refused(raw: str) -> None:
    with pytest.raises(ChatError) as caught:
        emails.normalize_address(raw)
    assert (caught.value.code, caught.value.status) == ("invalid_email", 422)


async def test_a_link_is_stored_hashed_and_proves_the_address_once(db: Database, cast: Cast) -> None:
    pending = await ask(db, cast.bob, cast.bob, "Bob.Kent@Example.com")
    [row] = await confirmations(db)
    assert row.token_hash == hashlib.sha256(pending.token.encode()).hexdigest() != pending.token
    assert row.email == "Bob.Kent@example.com"
    assert timedelta(hours=47, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=48)
    assert await status(db, cast.bob) == emails.EmailStatus(email=None, verified=False, pending="Bob.Kent@example.com")
    assert await mailable(db, cast.bob) is None  # waiting: never mailed
    before = await last_event_id(db)

    assert await use(db, pending.token) == emails.EmailConfirmed(cast.bob.id, "Bob.Kent@example.com")
    assert await status(db, cast.bob) == emails.EmailStatus(email="Bob.Kent@example.com", verified=True, pending=None)
    assert await mailable(db, cast.bob) == "Bob.Kent@example.com"
    [event] = await events_after(db, before)
    assert (event.kind, event.audience, event.subject_id) == ("user.email_verified", "subject", cast.bob.id)
    assert pending.token not in str(event.payload) and row.token_hash not in str(event.payload)
    async with db.read() as s:
        user = await s.get(models.User, cast.bob.id)
        assert user is not None and user.email_key == "bob.kent@example.com"

    await fails("confirmation_not_found", use(db, pending.token))  # used once
    assert await last_event_id(db) == event.id


async def test_a_forged_or_malformed_token_is_not_found(db: Database, cast: Cast) -> None:
    pending = await ask(db, cast.bob, cast.bob, "bob@example.com")
    for forged in ("x" * 43, pending.token[:-1], pending.token + "A", "", "y" * 500, pending.token_hash):
        error = await fails("confirmation_not_found", use(db, forged))
        assert error.status == 404
    assert (await status(db, cast.bob)).verified is False


async def test_an_expired_link_changes_nothing(db: Database, cast: Cast) -> None:
    pending = await ask(db, cast.bob, cast.bob, "bob@example.com")
    async with db.transaction() as s:  # the clock moves past the 48 hours
        await s.execute(update(models.EmailConfirmation).values(expires_at=models.utcnow() - timedelta(seconds=1)))
    before = await last_event_id(db)
    error = await fails("confirmation_expired", use(db, pending.token))
    assert error.status == 410
    assert await status(db, cast.bob) == emails.EmailStatus(email=None, verified=False, pending=None)
    assert await last_event_id(db) == before


async def test_a_new_link_ends_the_earlier_ones(db: Database, cast: Cast) -> None:
    first = await ask(db, cast.bob, cast.bob, "bob@example.com")
    second = await ask(db, cast.bob, cast.bob, "bob@example.org")
    assert [r.email for r in await confirmations(db)] == ["bob@example.org"]
    await fails("confirmation_not_found", use(db, first.token))
    assert (await use(db, second.token)).email == "bob@example.org"


async def test_an_address_another_account_proved_is_taken(db: Database, cast: Cast) -> None:
    bobs = await ask(db, cast.bob, cast.bob, "shared@example.com")
    carols = await ask(db, cast.carol, cast.carol, "Shared@EXAMPLE.com")  # both wait: nobody proved it yet
    await use(db, bobs.token)
    error = await fails("email_taken", use(db, carols.token))
    assert error.status == 409
    assert await status(db, cast.carol) == emails.EmailStatus(email=None, verified=False, pending="Shared@example.com")
    await fails("email_taken", ask(db, cast.carol, cast.carol, "shared@example.com"))
    await fails("email_unchanged", ask(db, cast.bob, cast.bob, "shared@example.com"))


async def test_removing_the_address_stops_the_mail(db: Database, cast: Cast) -> None:
    await use(db, (await ask(db, cast.bob, cast.bob, "bob@example.com")).token)
    waiting = await ask(db, cast.bob, cast.bob, "bob@example.org")
    before = await last_event_id(db)
    async with db.transaction() as s:
        assert await emails.remove_email(s, cast.bob, cast.bob.id)
    assert await status(db, cast.bob) == emails.EmailStatus(email=None, verified=False, pending=None)
    assert await mailable(db, cast.bob) is None
    await fails("confirmation_not_found", use(db, waiting.token))
    [event] = await events_after(db, before)
    assert (event.kind, event.audience, event.payload["email"]) == ("user.email_removed", "subject", "bob@example.com")
    async with db.transaction() as s:
        assert not await emails.remove_email(s, cast.bob, cast.bob.id)  # nothing left: no event
    assert await last_event_id(db) == event.id
    # the address is free again for someone else
    assert (await use(db, (await ask(db, cast.carol, cast.carol, "bob@example.com")).token)).user_id == cast.carol.id


async def test_only_an_admin_asks_for_someone_else_and_it_is_logged(db: Database, cast: Cast) -> None:
    for who in (cast.carol, cast.maya, cast.gus):
        await fails("admin_required", ask(db, who, cast.bob, "bob@example.com"))
    async with db.transaction() as s:
        await fails("admin_required", emails.remove_email(s, cast.carol, cast.bob.id))
    await fails("not_allowed", ask(db, cast.alice, cast.robot, "robot@example.com"))
    assert await confirmations(db) == []
    before = await last_event_id(db)
    pending = await ask(db, cast.alice, cast.bob, "bob@example.com")
    [event] = await events_after(db, before)
    assert (event.kind, event.audience, event.actor_id, event.subject_id) == (
        "user.email_requested",
        "admins",
        cast.alice.id,
        cast.bob.id,
    )
    assert pending.token not in str(event.payload)
    assert (await use(db, pending.token)).user_id == cast.bob.id  # the user's own click proves it


async def test_an_address_from_an_invitation_is_never_mailed_until_proved(db: Database, cast: Cast) -> None:
    async with db.transaction() as s:
        await s.execute(update(models.User).where(models.User.id == cast.bob.id).values(email="bob@legacy.example"))
    assert await status(db, cast.bob) == emails.EmailStatus(email="bob@legacy.example", verified=False, pending=None)
    assert await mailable(db, cast.bob) is None
    await use(db, (await ask(db, cast.bob, cast.bob, "bob@legacy.example")).token)
    assert await mailable(db, cast.bob) == "bob@legacy.example"


async def test_registration_by_domain_waits_for_the_address(db: Database, cast: Cast) -> None:
    cmd = RegisterRequest(username="dana", password="a-long-password", email="Dana@Example.com")
    async with db.transaction() as s:
        done = await register_with_email(s, cmd, mode="domains", allowed_domains=("example.com",))
    assert done.confirmation is not None and done.confirmation.email == "Dana@example.com"
    async with db.read() as s:
        await fails("email_unverified", emails.check_may_sign_in(s, done.user.id))
        await emails.check_may_sign_in(s, cast.bob.id)  # everyone else signs in as before
    await use(db, done.confirmation.token)
    async with db.read() as s:
        await emails.check_may_sign_in(s, done.user.id)
        user = await s.get(models.User, done.user.id)
        assert user is not None and emails.EMAIL_REQUIRED not in user.preferences

    async def attempt(email: str | None) -> None:
        async with db.transaction() as s:
            cmd = RegisterRequest(username="eve", password="a-long-password", email=email)
            await register_with_email(s, cmd, mode="domains", allowed_domains=("example.com",))

    await fails("email_domain_not_allowed", attempt("eve@eu.example.com"))
    await fails("invitation_required", attempt(None))
    async with db.read() as s:
        assert await s.scalar(select(func.count()).where(models.User.username == "eve")) == 0

"""Login sessions: credentials, rotation, logout, expiry, deactivation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from chat.accounts import passwords
from chat.accounts.commands import Login, UpdateUser
from chat.accounts.sessions import (
    ClientInfo,
    Credentials,
    NewSession,
    actor_for_session,
    check_credentials,
    end_session,
    session_id_of,
    start_session,
)
from chat.accounts.users import update_user
from chat.errors import ChatError, Invalid
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id
from tests.factories import Cast, password_of


async def check(db: Database, username: str, password: str) -> Credentials:
    async with db.read() as s:
        return await check_credentials(s, Login(username=username, password=password))


async def login(db: Database, username: str, replaces: str | None = None) -> NewSession:
    credentials = await check(db, username, password_of(username.lower()))
    async with db.transaction() as s:
        return await start_session(s, credentials, days=30, client=ClientInfo("10.0.0.7", "pytest"), replaces=replaces)


async def who(db: Database, secret: str) -> str | None:
    async with db.read() as s:
        found = await actor_for_session(s, secret)
    return found[0].username if found is not None else None


async def test_right_password_logs_in(db: Database, cast: Cast) -> None:
    mark = await last_event_id(db)
    new = await login(db, "Bob")  # usernames are case-insensitive
    assert new.info.user.id == cast.bob.id and new.id == session_id_of(new.secret)
    assert await who(db, new.secret) == "bob"
    async with db.read() as s:
        row = await s.get(models.WebSession, new.id)
    assert row is not None and row.user_id == cast.bob.id and row.address == "10.0.0.7"
    assert new.secret not in (row.id, row.csrf_token)
    (event,) = await events_after(db, mark)
    assert (event.kind, event.audience, event.subject_id, event.conversation_id) == (
        "session.login",
        "subject",
        cast.bob.id,
        None,
    )
    assert new.secret not in str(event.payload) and new.id not in str(event.payload)


async def test_unknown_user_bot_and_wrong_password_get_one_answer(
    db: Database, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = passwords._context
    work: list[str] = []

    class Spy:
        def verify(self, secret: str, hashed: str) -> Any:
            work.append("argon2")
            return real.verify(secret, hashed)

        def verify_and_update(self, secret: str, hashed: str) -> Any:
            work.append("argon2")
            return real.verify_and_update(secret, hashed)

    monkeypatch.setattr(passwords, "_context", Spy())
    answers = []
    for username, password in (("nobody", "whatever-pw"), ("bob", "wrong-password"), ("robot", "whatever-pw")):
        with pytest.raises(ChatError) as refused:
            await check(db, username, password)
        answers.append((refused.value.status, refused.value.to_dict()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0] == (401, {"code": "invalid_credentials", "message": "the username or password is wrong"})
    assert work == ["argon2"] * 3  # one argon2 check each: the same path


async def test_a_deactivated_account_is_refused(db: Database, cast: Cast) -> None:
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.bob.id, UpdateUser(active=False))
    with pytest.raises(ChatError) as refused:
        await check(db, "bob", password_of("bob"))
    assert (refused.value.status, refused.value.code) == (401, "account_deactivated")
    with pytest.raises(ChatError) as wrong:
        await check(db, "bob", "not-the-password")
    assert wrong.value.code == "invalid_credentials"


async def test_an_over_long_password_is_refused_before_hashing(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_context", None)  # any hashing would now fail loudly
    with pytest.raises(Invalid) as refused:
        Login(username="bob", password="x" * (1024 * 1024))
    assert refused.value.code == "too_long"
    assert await passwords.verify_password_async("x" * 300, "irrelevant") == (False, None)


async def test_each_login_is_a_new_session_and_a_presented_one_is_revoked(db: Database, cast: Cast) -> None:
    first = await login(db, "bob")
    second = await login(db, "bob")
    assert first.secret != second.secret and first.id != second.id
    assert await who(db, first.secret) == "bob" and await who(db, second.secret) == "bob"
    third = await login(db, "bob", replaces=second.secret)
    assert await who(db, second.secret) is None
    assert await who(db, first.secret) == "bob" and await who(db, third.secret) == "bob"


async def test_logout_revokes_the_session(db: Database, cast: Cast) -> None:
    new = await login(db, "carol")
    mark = await last_event_id(db)
    async with db.transaction() as s:
        assert await end_session(s, cast.carol, new.id) is True
    assert await who(db, new.secret) is None
    (event,) = await events_after(db, mark)
    assert (event.kind, event.audience, event.subject_id) == ("session.logout", "subject", cast.carol.id)
    before = await counts(db)
    async with db.transaction() as s:
        assert await end_session(s, cast.carol, new.id) is False  # nothing left: no event
        assert await end_session(s, cast.carol, None) is False
    assert await counts(db) == before


async def test_expired_sessions_are_refused_and_purged_at_the_next_login(db: Database, cast: Cast) -> None:
    old = await login(db, "bob")
    async with db.transaction() as s:
        await s.execute(
            update(models.WebSession)
            .where(models.WebSession.id == old.id)
            .values(expires_at=models.utcnow() - timedelta(seconds=1))
        )
    assert await who(db, old.secret) is None
    await login(db, "bob")
    async with db.read() as s:
        assert await s.get(models.WebSession, old.id) is None


async def test_deactivation_ends_every_session(db: Database, cast: Cast) -> None:
    sessions = [await login(db, "bob") for _ in range(3)]
    mine = await login(db, "carol")
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.bob.id, UpdateUser(active=False))
    async with db.read() as s:
        left = list(await s.scalars(select(models.WebSession.user_id)))
    assert left == [cast.carol.id]
    assert all([await who(db, new.secret) is None for new in sessions])
    assert await who(db, mine.secret) == "carol"


async def test_garbage_cookies_find_nobody(db: Database, cast: Cast) -> None:
    for secret in ("", "x", "a" * 1000, "salon_" + "b" * 40):
        assert await who(db, secret) is None

"""Your profile, admin changes to users, admin accounts from the console, passwords."""

from __future__ import annotations

import pytest

from chat.accounts import passwords
from chat.accounts.commands import Login, Register, UpdateMe, UpdateUser
from chat.accounts.sessions import ClientInfo, actor_for_session, check_credentials, session_id_of, start_session
from chat.accounts.users import create_admin, create_user, update_me, update_user
from chat.domain.actors import Actor
from chat.errors import ChatError, Invalid
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id
from tests.factories import Cast, password_of


async def login_secret(db: Database, username: str, password: str) -> str:
    async with db.read() as s:
        credentials = await check_credentials(s, Login(username=username, password=password))
    async with db.transaction() as s:
        return (await start_session(s, credentials, days=1, client=ClientInfo())).secret


async def alive(db: Database, secret: str) -> bool:
    async with db.read() as s:
        return await actor_for_session(s, secret) is not None


async def change_me(db: Database, actor: Actor, keep: str | None = None, **fields: str) -> object:
    async with db.transaction() as s:
        return await update_me(s, actor, UpdateMe(**fields), keep_session=keep)


async def change_user(db: Database, actor: Actor, user_id: int, **fields: object) -> object:
    async with db.transaction() as s:
        return await update_user(s, actor, user_id, UpdateUser(**fields))  # type: ignore[arg-type]


async def refused(db: Database, code: str, work: object) -> None:
    before = await counts(db)
    with pytest.raises(ChatError) as caught:
        await work  # type: ignore[misc]
    assert caught.value.code == code
    assert await counts(db) == before


async def test_display_name_change_is_one_event_for_everyone(db: Database, cast: Cast) -> None:
    mark = await last_event_id(db)
    info = await change_me(db, cast.bob, display_name="  Bob   the Builder ")
    assert info.display_name == "Bob the Builder"  # type: ignore[attr-defined]
    (event,) = await events_after(db, mark)
    assert (event.kind, event.audience, event.payload) == (
        "user.updated",
        "everyone",
        {"user_id": cast.bob.id, "display_name": "Bob the Builder"},
    )
    await change_me(db, cast.bob, display_name="Bob the Builder")  # no change, no event
    assert len(await events_after(db, mark)) == 1


async def test_password_change_needs_the_current_one_and_ends_other_sessions(db: Database, cast: Cast) -> None:
    here = await login_secret(db, "bob", password_of("bob"))
    elsewhere = await login_secret(db, "bob", password_of("bob"))
    await refused(db, "wrong_password", change_me(db, cast.bob, password="new-password-1", current_password="nope"))
    mark = await last_event_id(db)
    await change_me(
        db, cast.bob, keep=session_id_of(here), password="new-password-1", current_password=password_of("bob")
    )
    assert await alive(db, here) and not await alive(db, elsewhere)
    (event,) = await events_after(db, mark)
    assert (event.kind, event.audience, event.subject_id) == ("user.password_changed", "subject", cast.bob.id)
    assert "new-password-1" not in str(event.payload)
    await login_secret(db, "bob", "new-password-1")
    with pytest.raises(ChatError):
        await login_secret(db, "bob", password_of("bob"))


async def test_update_me_refuses_bad_combinations() -> None:
    for fields, code in (
        ({}, "nothing_to_change"),
        ({"password": "new-password-1"}, "missing_field"),
        ({"current_password": "x"}, "missing_field"),
        ({"password": "short", "current_password": "x"}, "password_too_short"),
        ({"password": "p" * 300, "current_password": "x"}, "password_too_long"),
        ({"display_name": "   "}, "empty"),
        ({"display_name": "n" * 81}, "too_long"),
    ):
        with pytest.raises(Invalid) as refused:
            UpdateMe(**fields)
        assert refused.value.code == code, fields


async def test_admins_change_roles_with_one_event(db: Database, cast: Cast) -> None:
    mark = await last_event_id(db)
    info = await change_user(db, cast.alice, cast.bob.id, role="moderator")
    assert info.role == "moderator"  # type: ignore[attr-defined]
    (event,) = await events_after(db, mark)
    assert (event.kind, event.audience, event.subject_id, event.actor_id) == (
        "user.role_changed",
        "everyone",
        cast.bob.id,
        cast.alice.id,
    )
    assert event.payload == {"user_id": cast.bob.id, "role": "moderator", "previous_role": "member"}
    await change_user(db, cast.alice, cast.bob.id, role="moderator")  # unchanged: no event
    assert len(await events_after(db, mark)) == 1


async def test_only_admins_change_users(db: Database, cast: Cast) -> None:
    for actor in (cast.maya, cast.bob, cast.gus, cast.robot):
        await refused(db, "admin_required", change_user(db, actor, cast.carol.id, role="admin"))
    await refused(db, "user_not_found", change_user(db, cast.alice, 999_999, role="admin"))
    await refused(db, "user_not_found", change_user(db, cast.alice, 2**80, active=False))


async def test_the_last_admin_stays(db: Database, cast: Cast) -> None:
    await refused(db, "last_admin", change_user(db, cast.alice, cast.alice.id, role="member"))
    await refused(db, "last_admin", change_user(db, cast.alice, cast.alice.id, active=False))
    await change_user(db, cast.alice, cast.maya.id, role="admin")
    await change_user(db, cast.alice, cast.alice.id, role="member")
    async with db.read() as s:
        alice = await s.get(models.User, cast.alice.id)
    assert alice is not None and alice.role == "member"


async def test_deactivate_and_reactivate(db: Database, cast: Cast) -> None:
    secret = await login_secret(db, "carol", password_of("carol"))
    mark = await last_event_id(db)
    info = await change_user(db, cast.alice, cast.carol.id, active=False)
    assert info.active is False  # type: ignore[attr-defined]
    assert not await alive(db, secret)
    await change_user(db, cast.alice, cast.carol.id, active=False)  # already: no event
    await change_user(db, cast.alice, cast.carol.id, active=True)
    events = await events_after(db, mark)
    assert [(e.kind, e.audience, e.subject_id) for e in events] == [
        ("user.deactivated", "everyone", cast.carol.id),
        ("user.reactivated", "everyone", cast.carol.id),
    ]
    assert not await alive(db, secret)  # the old session stays gone


async def test_update_user_takes_one_change_at_a_time() -> None:
    with pytest.raises(Invalid) as both:
        UpdateUser(role="admin", active=False)
    assert both.value.code == "one_change_at_a_time"
    with pytest.raises(Invalid) as none:
        UpdateUser()
    assert none.value.code == "nothing_to_change"


async def test_create_admin_from_the_console(db: Database, cast: Cast) -> None:
    async with db.transaction() as s:
        info = await create_admin(s, "Root", "a-long-password")
    assert (info.username, info.role) == ("root", "admin")
    await login_secret(db, "root", "a-long-password")
    await refused(db, "username_taken", _create_admin(db, "ROOT", "a-long-password"))
    await refused(db, "password_too_short", _create_admin(db, "root2", "short"))


async def _create_admin(db: Database, username: str, password: str) -> None:
    async with db.transaction() as s:
        await create_admin(s, username, password)


async def test_a_huge_password_is_refused_without_hashing(
    db: Database, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoHashing:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"argon2 {name} called for a refused password")

    monkeypatch.setattr(passwords, "_context", NoHashing())
    huge = "p" * (1024 * 1024)
    before = await counts(db)
    for build in (
        lambda: Register(username="dora", password=huge),
        lambda: Register(username="dora", password="p" * 300),
        lambda: UpdateMe(password=huge, current_password=password_of("bob")),
    ):
        with pytest.raises(Invalid) as refused:
            build()
        assert refused.value.code == "password_too_long"
    await refused_async(db, _create_admin(db, "dora", huge))
    assert await counts(db) == before
    with pytest.raises(Invalid, match="longer than"):
        passwords.hash_password(huge)


async def refused_async(db: Database, work: object) -> None:
    with pytest.raises(Invalid) as caught:
        await work  # type: ignore[misc]
    assert caught.value.code == "password_too_long"


# --- names: no one reads like someone else (chat.channels.names, docs/architecture.md "Names") -------------


async def register(db: Database, username: str, display_name: str | None = None) -> models.User:
    cmd = Register(username=username, password="a-long-enough-pw", display_name=display_name)
    async with db.transaction() as s:
        return await create_user(s, username=cmd.username, password=cmd.password, display_name=cmd.display_name)


@pytest.mark.parametrize(
    ("display_name", "code"),
    [
        ("Bob", "display_name_taken"),  # carol takes bob's display name
        ("BOB", "display_name_taken"),  # without regard to case
        ("maya", "display_name_taken"),  # another user's username (maya's display name is "Maya")
        ("robot", "display_name_taken"),  # a bot's username and display name
        ("B\u043eb", "display_name_confusable"),  # Cyrillic o
        ("\u0410lice", "display_name_confusable"),  # Cyrillic A
        ("G\u03c5s Guest", "display_name_confusable"),  # Greek upsilon
        ("r0bot", "display_name_confusable"),  # a digit for a letter
    ],
)
async def test_a_display_name_may_not_read_like_another_user(
    db: Database, cast: Cast, display_name: str, code: str
) -> None:
    await refused(db, code, change_me(db, cast.carol, display_name=display_name))


async def test_your_own_names_never_conflict(db: Database, cast: Cast) -> None:
    assert (await change_me(db, cast.bob, display_name="BOB")).display_name == "BOB"  # type: ignore[attr-defined]
    assert (await change_me(db, cast.bob, display_name="bob")).display_name == "bob"  # type: ignore[attr-defined]
    await change_me(db, cast.bob, display_name="Robert")
    await refused(db, "display_name_taken", change_me(db, cast.carol, display_name="Robert"))
    await change_me(db, cast.bob, display_name="Rob")  # a name given up is free again
    assert (await change_me(db, cast.carol, display_name="Robert")).display_name == "Robert"  # type: ignore[attr-defined]


async def test_display_names_are_nfkc_and_refuse_hidden_characters(db: Database, cast: Cast) -> None:
    info = await change_me(db, cast.bob, display_name="\uff22\uff4f\uff42 K.")  # fullwidth
    assert info.display_name == "Bob K."  # type: ignore[attr-defined]
    for hidden, code in (("Bob\u202e.K", "bidi_control"), ("Bo\u200bb", "invisible_character")):
        with pytest.raises(Invalid) as caught:
            UpdateMe(display_name=hidden)
        assert caught.value.code == code
        with pytest.raises(Invalid) as caught:
            Register(username="newbie", password="a-long-enough-pw", display_name=hidden)
        assert caught.value.code == code


async def test_a_new_account_may_not_read_like_an_existing_one(db: Database, cast: Cast) -> None:
    await refused(db, "username_taken", register(db, "BOB"))
    await refused(db, "username_confusable", register(db, "b0b"))  # reads like bob
    await refused(db, "username_confusable", register(db, "rnaya"))  # rn reads like m
    await change_me(db, cast.carol, display_name="Tables")
    await refused(db, "username_confusable", register(db, "tab1es"))  # reads like carol's display name
    await refused(db, "username_confusable", register(db, "tables"))  # equal to it, without regard to case


@pytest.mark.parametrize("username", ["all", "a1l", "ALL", "everyone", "here", "sa1on", "systern"])
async def test_reserved_usernames_and_their_look_alikes_are_refused(db: Database, cast: Cast, username: str) -> None:
    await refused(db, "username_reserved", register(db, username))


async def test_registration_checks_the_display_name_it_is_given(db: Database, cast: Cast) -> None:
    await refused(db, "display_name_taken", register(db, "newbie", "Carol"))
    await refused(db, "display_name_confusable", register(db, "newbie", "C\u0430rol"))
    user = await register(db, "newbie", "Newbie N.")
    assert (user.username_skeleton, user.display_skeleton) == ("newbie", "newbie n.")


async def test_deactivated_accounts_keep_their_names(db: Database, cast: Cast) -> None:
    await change_user(db, cast.alice, cast.carol.id, active=False)
    await refused(db, "display_name_taken", change_me(db, cast.bob, display_name="Carol"))
    await refused(db, "username_confusable", register(db, "caro1"))

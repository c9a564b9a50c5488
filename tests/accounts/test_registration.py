"""Registration under each mode, the first account, invitations (members and guests)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from chat.accounts.commands import CreateInvitation, Register, UpdateUser
from chat.accounts.invitations import code_hash, create_invitation
from chat.accounts.registration import register
from chat.accounts.results import InvitationCreated, UserInfo
from chat.accounts.users import update_user
from chat.channels.commands import AddMember
from chat.channels.conversations import add_member, leave_conversation
from chat.config import RegistrationMode
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id, member_ids, new_conversation, record_published
from tests.factories import Cast


async def signup(db: Database, username: str, mode: RegistrationMode = "open", invite: str | None = None) -> UserInfo:
    async with db.transaction() as s:
        return await register(s, Register(username=username, password="a-long-password", invite=invite), mode=mode)


async def invite(
    db: Database,
    actor: Actor,
    role: str = "member",
    ids: tuple[int, ...] = (),
    mode: RegistrationMode = "open",
    **kw: object,
) -> InvitationCreated:
    async with db.transaction() as s:
        cmd = CreateInvitation(role=role, conversation_ids=ids, **kw)  # type: ignore[arg-type]
        return await create_invitation(s, actor, cmd, mode=mode)


async def refused(db: Database, code: str, coro_factory: object) -> ChatError:
    before = await counts(db)
    with pytest.raises(ChatError) as caught:
        await coro_factory()  # type: ignore[operator]
    assert caught.value.code == code
    assert await counts(db) == before
    return caught.value


@pytest.mark.parametrize("mode", ["open", "invite", "closed"])
async def test_the_first_account_becomes_admin_in_every_mode(db: Database, mode: RegistrationMode) -> None:
    first = await signup(db, "Founder", mode)
    assert (first.username, first.role, first.display_name) == ("founder", "admin", "Founder")
    assert await event_kinds_all(db) == ["user.created"]


async def event_kinds_all(db: Database) -> list[str]:
    return [e.kind for e in await events_after(db, 0)]


async def test_open_mode_makes_members(db: Database, cast: Cast) -> None:
    mark = await last_event_id(db)
    user = await signup(db, "dora")
    assert user.role == "member" and user.active and not user.is_bot
    (event,) = await events_after(db, mark)
    assert event.kind == "user.created" and event.audience == "everyone" and event.subject_id == user.id
    assert event.payload["user"]["username"] == "dora"
    assert "password" not in str(event.payload) and "a-long-password" not in str(event.payload)


async def test_invite_mode_needs_an_invitation(db: Database, cast: Cast) -> None:
    await refused(db, "invitation_required", lambda: signup(db, "dora", "invite"))
    code = (await invite(db, cast.maya, mode="invite")).code
    assert (await signup(db, "dora", "invite", code)).role == "member"


async def test_closed_mode_takes_only_admin_invitations(db: Database, cast: Cast) -> None:
    await refused(db, "registration_closed", lambda: signup(db, "dora", "closed"))
    await refused(db, "cannot_invite", lambda: invite(db, cast.maya, mode="closed"))
    by_moderator = (await invite(db, cast.maya, mode="invite")).code
    await refused(db, "invalid_invitation", lambda: signup(db, "dora", "closed", by_moderator))
    by_admin = (await invite(db, cast.alice, mode="closed")).code
    assert (await signup(db, "dora", "closed", by_admin)).role == "member"


async def test_members_and_guests_cannot_invite(db: Database, cast: Cast) -> None:
    await refused(db, "cannot_invite", lambda: invite(db, cast.bob))
    await refused(db, "cannot_invite", lambda: invite(db, cast.gus))
    await refused(db, "cannot_invite", lambda: invite(db, cast.robot))


async def test_an_invitation_is_single_use(db: Database, cast: Cast) -> None:
    code = (await invite(db, cast.alice)).code
    await signup(db, "dora", "invite", code)
    await refused(db, "invalid_invitation", lambda: signup(db, "erin", "invite", code))
    await refused(db, "invalid_invitation", lambda: signup(db, "erin", "open", "no-such-code"))


async def test_an_expired_invitation_is_refused(db: Database, cast: Cast) -> None:
    created = await invite(db, cast.alice)
    async with db.transaction() as s:
        await s.execute(
            update(models.Invitation)
            .where(models.Invitation.id == created.id)
            .values(expires_at=models.utcnow() - timedelta(seconds=1))
        )
    await refused(db, "invalid_invitation", lambda: signup(db, "dora", "invite", created.code))


async def test_an_invitation_dies_with_its_creators_rights(db: Database, cast: Cast) -> None:
    code = (await invite(db, cast.maya)).code
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.maya.id, UpdateUser(role="member"))
    await refused(db, "invalid_invitation", lambda: signup(db, "dora", "invite", code))
    code = (await invite(db, cast.alice)).code
    async with db.transaction() as s:  # maya becomes admin again, so alice may leave
        await update_user(s, cast.alice, cast.maya.id, UpdateUser(role="admin"))
        await update_user(s, cast.alice, cast.alice.id, UpdateUser(active=False))
    await refused(db, "invalid_invitation", lambda: signup(db, "dora", "invite", code))


async def test_only_the_hash_of_a_code_is_stored(db: Database, cast: Cast) -> None:
    created = await invite(db, cast.alice, email="dora@example.com")
    async with db.read() as s:
        row = await s.get(models.Invitation, created.id)
    assert row is not None and row.code_hash == code_hash(created.code) and created.code not in row.code_hash
    mark_events = await events_after(db, 0)
    event = mark_events[-1]
    assert event.kind == "invitation.created" and event.audience == "staff"
    assert created.code not in str(event.payload) and "dora@example.com" not in str(event.payload)


async def test_a_guest_invitation_adds_the_guest_to_its_conversations(db: Database, cast: Cast) -> None:
    sales = await new_conversation(db, cast.maya, "sales")
    deals = await new_conversation(db, cast.maya, "deals", "private")
    other = await new_conversation(db, cast.bob, "other")
    created = await invite(db, cast.maya, "guest", (sales, deals), email="vera@client.example")
    published = record_published(db)
    mark = await last_event_id(db)
    vera = await signup(db, "vera", "invite", created.code)
    assert vera.role == "guest"
    assert vera.id in await member_ids(db, sales) and vera.id in await member_ids(db, deals)
    assert vera.id not in await member_ids(db, other)
    events = await events_after(db, mark)
    assert [(e.kind, e.conversation_id) for e in events] == [
        ("user.created", None),
        ("invitation.used", None),
        ("member.invited", sales),
        ("member.invited", deals),
    ]
    assert events[0].payload["invitation_id"] == created.id
    assert events[1].payload == {"invitation_id": created.id, "user_id": vera.id, "use_count": 1}
    assert all(e.actor_id == cast.maya.id for e in events[2:])
    routed = {e.conversation: e.members for e in published if e.kind == "member.invited"}
    assert routed == {sales: (cast.maya.id, vera.id), deals: (cast.maya.id, vera.id)}
    async with db.read() as s:
        row = await s.get(models.Invitation, created.id)
        user = await s.get(models.User, vera.id)
    assert row is not None and row.used_by == vera.id and row.used_at is not None
    assert user is not None and user.email == "vera@client.example"


async def test_guest_invitations_name_only_conversations_the_inviter_sees(db: Database, cast: Cast) -> None:
    hidden = await new_conversation(db, cast.bob, "bobs-group", "private")
    await refused(db, "conversation_not_found", lambda: invite(db, cast.maya, "guest", (hidden,)))
    await refused(db, "conversation_not_found", lambda: invite(db, cast.maya, "guest", (999_999,)))
    await refused(db, "guest_needs_conversations", lambda: invite(db, cast.maya, "guest", ()))


async def test_a_member_invitation_may_name_channels(db: Database, cast: Cast) -> None:
    general = await new_conversation(db, cast.alice, "general")
    code = (await invite(db, cast.alice, "member", (general,))).code
    dora = await signup(db, "dora", "open", code)
    assert dora.role == "member" and dora.id in await member_ids(db, general)


async def test_a_conversation_the_inviter_left_is_skipped(db: Database, cast: Cast) -> None:
    group = await new_conversation(db, cast.maya, "g1", "private")
    channel = await new_conversation(db, cast.maya, "c1")
    async with db.transaction() as s:
        await add_member(s, cast.maya, group, AddMember(user_id=cast.bob.id))
    code = (await invite(db, cast.maya, "guest", (group, channel))).code
    async with db.transaction() as s:
        await leave_conversation(s, cast.maya, group)
    vera = await signup(db, "vera", "open", code)
    assert vera.id not in await member_ids(db, group) and vera.id in await member_ids(db, channel)


async def test_bad_registrations_change_nothing(db: Database, cast: Cast) -> None:
    await refused(db, "username_taken", lambda: signup(db, "BOB"))
    await refused(db, "username_reserved", lambda: signup(db, "everyone"))


async def test_concurrent_first_registrations_make_one_admin(db: Database) -> None:
    results = await asyncio.gather(*(signup(db, f"user{i}") for i in range(4)), return_exceptions=True)
    roles = sorted(r.role for r in results if isinstance(r, UserInfo))
    assert roles == ["admin", "member", "member", "member"]


async def test_concurrent_registrations_of_one_name_make_one_user(db: Database, cast: Cast) -> None:
    results = await asyncio.gather(*(signup(db, name) for name in ("dora", "DORA", "Dora")), return_exceptions=True)
    created = [r for r in results if isinstance(r, UserInfo)]
    conflicts = [r for r in results if isinstance(r, ChatError) and r.code == "username_taken"]
    assert len(created) == 1 and len(conflicts) == 2


# --- the first account of a server others can reach needs the setup token -------------------------


async def setup_signup(db: Database, username: str, token: str | None, *, expected: str) -> UserInfo:
    async with db.transaction() as s:
        cmd = Register(username=username, password="a-long-password", setup_token=token)
        return await register(s, cmd, mode="open", setup_token=expected)


async def test_the_first_account_needs_the_setup_token_when_one_is_required(db: Database) -> None:
    await refused(db, "setup_token_required", lambda: setup_signup(db, "mallory", None, expected="s3cret-token"))
    await refused(db, "invalid_setup_token", lambda: setup_signup(db, "mallory", "guess", expected="s3cret-token"))
    first = await setup_signup(db, "founder", "s3cret-token", expected="s3cret-token")
    assert first.role == "admin"
    # single use: the token made the first account; presented again it gives nothing more
    second = await setup_signup(db, "mallory", "s3cret-token", expected="s3cret-token")
    assert second.role == "member"


async def test_without_a_setup_token_nobody_creates_the_first_account_over_the_web(db: Database) -> None:
    await refused(db, "setup_token_required", lambda: setup_signup(db, "mallory", None, expected=""))
    await refused(db, "invalid_setup_token", lambda: setup_signup(db, "mallory", "anything", expected=""))


async def test_on_a_loopback_server_the_first_visitor_sets_up(db: Database) -> None:
    async with db.transaction() as s:  # setup_token=None: the first visitor sets up
        first = await register(s, Register(username="founder", password="a-long-password"), mode="open")
    assert first.role == "admin"

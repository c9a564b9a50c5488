"""Invitation links: single use or reusable, expiry, revocation, listing, their events; default channels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from chat.accounts.invitations import list_invitations, revoke_invitation
from chat.config import Settings, SettingsError
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id, member_ids, new_conversation
from tests.accounts.test_registration import invite, refused, signup
from tests.factories import Cast


async def revoke(db: Database, actor: object, invitation_id: int) -> str:
    async with db.transaction() as s:
        return (await revoke_invitation(s, actor, invitation_id)).status  # type: ignore[arg-type]


async def age(db: Database, invitation_id: int, **delta: float) -> None:
    """Move an invitation's expiry into the past (the clock the test moves)."""
    async with db.transaction() as s:
        await s.execute(
            update(models.Invitation)
            .where(models.Invitation.id == invitation_id)
            .values(expires_at=models.utcnow() - timedelta(**delta))
        )


def test_registration_is_invitation_only_by_default_and_domains_is_refused() -> None:
    assert Settings().registration_mode == "invite"
    assert Settings.from_env({"CHAT_REGISTRATION_MODE": "open"}).registration_mode == "open"
    with pytest.raises(SettingsError, match="verif"):
        Settings.from_env({"CHAT_REGISTRATION_MODE": "domains"})


async def test_a_reusable_link_registers_several_people_until_revoked(db: Database, cast: Cast) -> None:
    created = await invite(db, cast.alice, single_use=False)
    assert created.single_use is False and created.link == f"/register?invite={created.code}"
    first = await signup(db, "dora", "invite", created.code)
    second = await signup(db, "erin", "invite", created.code)
    assert first.role == second.role == "member"
    async with db.read() as s:
        (listed,) = (await list_invitations(s, cast.alice)).invitations
    assert (listed.use_count, listed.status, listed.single_use) == (2, "active", False)
    assert await revoke(db, cast.alice, created.id) == "revoked"
    await refused(db, "invalid_invitation", lambda: signup(db, "fred", "invite", created.code))


async def test_a_single_use_invitation_is_used_up(db: Database, cast: Cast) -> None:
    created = await invite(db, cast.maya)
    assert created.single_use is True
    mark = await last_event_id(db)
    dora = await signup(db, "dora", "invite", created.code)
    used = [e for e in await events_after(db, mark) if e.kind == "invitation.used"]
    assert [(e.audience, e.conversation_id, e.actor_id, e.payload) for e in used] == [
        ("staff", None, dora.id, {"invitation_id": created.id, "user_id": dora.id, "use_count": 1})
    ]
    await refused(db, "invalid_invitation", lambda: signup(db, "erin", "invite", created.code))
    async with db.read() as s:
        (listed,) = (await list_invitations(s, cast.maya)).invitations
    assert (listed.status, listed.use_count) == ("used", 1)


async def test_expired_and_revoked_invitations_are_refused(db: Database, cast: Cast) -> None:
    reusable = await invite(db, cast.alice, single_use=False, expires_in_days=1)
    await signup(db, "dora", "invite", reusable.code)
    await age(db, reusable.id, seconds=1)
    await refused(db, "invalid_invitation", lambda: signup(db, "erin", "invite", reusable.code))
    revoked = await invite(db, cast.alice)
    await revoke(db, cast.alice, revoked.id)
    await refused(db, "invalid_invitation", lambda: signup(db, "erin", "invite", revoked.code))
    async with db.read() as s:
        statuses = {i.id: i.status for i in (await list_invitations(s, cast.alice)).invitations}
    assert statuses == {reusable.id: "expired", revoked.id: "revoked"}


async def test_revocation_rules_and_events(db: Database, cast: Cast) -> None:
    by_maya = await invite(db, cast.maya)
    by_alice = await invite(db, cast.alice)
    for actor, target in ((cast.bob, by_maya), (cast.maya, by_alice), (cast.gus, by_maya), (cast.robot, by_alice)):
        await refused(db, "invitation_not_found", lambda a=actor, t=target: revoke(db, a, t.id))
    await refused(db, "invitation_not_found", lambda: revoke(db, cast.alice, 999_999))
    await refused(db, "invitation_not_found", lambda: revoke(db, cast.alice, 2**70))
    mark = await last_event_id(db)
    assert await revoke(db, cast.maya, by_maya.id) == "revoked"  # its creator
    assert await revoke(db, cast.alice, by_alice.id) == "revoked"  # an admin, any invitation
    before = await counts(db)
    assert await revoke(db, cast.alice, by_maya.id) == "revoked"  # again: nothing changes
    assert await counts(db) == before
    events = await events_after(db, mark)
    assert [(e.kind, e.actor_id, e.audience, e.conversation_id) for e in events] == [
        ("invitation.revoked", cast.maya.id, "staff", None),
        ("invitation.revoked", cast.alice.id, "staff", None),
    ]
    assert events[0].payload == {"invitation_id": by_maya.id, "created_by": cast.maya.id}


async def test_admins_list_every_invitation_others_their_own_never_the_code(db: Database, cast: Cast) -> None:
    by_maya = await invite(db, cast.maya)
    by_alice = await invite(db, cast.alice, email="dora@example.com")
    async with db.read() as s:
        seen = {
            name: [i.id for i in (await list_invitations(s, getattr(cast, name))).invitations]
            for name in ("alice", "maya", "bob", "gus")
        }
        everything = str(await list_invitations(s, cast.alice))
    assert seen == {"alice": [by_alice.id, by_maya.id], "maya": [by_maya.id], "bob": [], "gus": []}
    assert by_maya.code not in everything and by_alice.code not in everything
    assert "created_by_username='maya'" in everything


async def test_new_members_join_the_default_channels(db: Database, cast: Cast) -> None:
    lobby = await new_conversation(db, cast.alice, "lobby")
    news = await new_conversation(db, cast.alice, "news")
    old = await new_conversation(db, cast.alice, "old")
    hidden = await new_conversation(db, cast.alice, "staff-room", "private")
    plain = await new_conversation(db, cast.alice, "random")
    async with db.transaction() as s:
        await s.execute(
            update(models.Conversation)
            .where(models.Conversation.id.in_([lobby, news, old, hidden]))
            .values(is_default=True)
        )
        await s.execute(update(models.Conversation).where(models.Conversation.id == old).values(archived=True))
    project = await new_conversation(db, cast.maya, "project", "private")
    member_code = (await invite(db, cast.maya, "member", (lobby,))).code
    guest_code = (await invite(db, cast.maya, "guest", (project,))).code
    mark = await last_event_id(db)
    dora = await signup(db, "dora", "invite", member_code)
    events = [(e.kind, e.conversation_id, e.actor_id) for e in await events_after(db, mark)]
    assert events == [
        ("user.created", None, dora.id),
        ("invitation.used", None, dora.id),
        ("member.invited", lobby, cast.maya.id),  # the invitation's own conversation: no second event
        ("member.joined", news, dora.id),
    ]
    vera = await signup(db, "vera", "invite", guest_code)
    erin = await signup(db, "erin", "open")
    joined = {name: {c for c in (lobby, news, old, hidden, plain, project) if u.id in await member_ids(db, c)}
              for name, u in (("dora", dora), ("vera", vera), ("erin", erin))}  # fmt: skip
    assert joined == {"dora": {lobby, news}, "vera": {project}, "erin": {lobby, news}}

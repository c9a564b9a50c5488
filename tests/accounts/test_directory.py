"""The user directory: everyone sees active users; guests see only the people they meet."""

from __future__ import annotations

import pytest

from chat.accounts.commands import UpdateUser
from chat.accounts.directory import list_users
from chat.accounts.users import update_user
from chat.channels.commands import AddMember
from chat.channels.conversations import add_member
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.store.db import Database
from tests.accounts.helpers import new_conversation
from tests.factories import Cast


async def names(db: Database, actor: Actor, include_inactive: bool = False) -> list[str]:
    async with db.read() as s:
        listed = await list_users(s, actor, include_inactive=include_inactive)
    return [u.username for u in listed.users]


EVERYONE = ["alice", "bob", "carol", "gus", "maya", "robot"]


async def test_members_see_every_active_user(db: Database, cast: Cast) -> None:
    for actor in (cast.alice, cast.maya, cast.bob, cast.robot):
        assert await names(db, actor) == EVERYONE
    async with db.transaction() as s:
        await update_user(s, cast.alice, cast.carol.id, UpdateUser(active=False))
    assert "carol" not in await names(db, cast.bob)
    assert await names(db, cast.alice, include_inactive=True) == EVERYONE


async def test_only_admins_list_deactivated_users(db: Database, cast: Cast) -> None:
    with pytest.raises(ChatError) as refused:
        await names(db, cast.maya, include_inactive=True)
    assert (refused.value.status, refused.value.code) == (403, "admin_required")


async def test_a_guest_sees_only_the_people_they_share_a_conversation_with(db: Database, cast: Cast) -> None:
    assert await names(db, cast.gus) == ["gus"]
    project = await new_conversation(db, cast.maya, "project", "private")
    await new_conversation(db, cast.bob, "elsewhere")
    async with db.transaction() as s:
        await add_member(s, cast.maya, project, AddMember(user_id=cast.gus.id))
        await add_member(s, cast.maya, project, AddMember(user_id=cast.carol.id))
    assert await names(db, cast.gus) == ["carol", "gus", "maya"]

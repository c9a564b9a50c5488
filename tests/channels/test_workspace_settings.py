"""Workspace settings in the domain: who reads a change's event, the owner the policy asks about."""

from __future__ import annotations

from chat.channels.commands import UpdateConversation
from chat.channels.conversations import update_conversation
from chat.channels.feed import events_since
from chat.channels.settings import UpdateSettings, update_settings
from chat.config import Settings
from chat.store import workspace
from chat.store.db import Database
from tests.channels.messaging_support import channel
from tests.factories import Cast


async def test_a_settings_change_is_read_by_admins_only(db: Database, cast: Cast, settings: Settings) -> None:
    async with db.transaction() as s:
        shown = await update_settings(s, cast.alice, UpdateSettings(delete_window_s=120), settings)
    assert shown.delete_window_s == 120
    seen = {}
    for name in ("alice", "maya", "bob", "gus"):
        async with db.read() as s:
            page = await events_since(s, getattr(cast, name), 0, 500)
        seen[name] = [e.data for e in page.events if e.kind == "workspace.settings_changed"]
    assert seen["alice"] == [{"changes": {"delete_window_s": {"old": 0, "new": 120}}}]
    assert seen["maya"] == seen["bob"] == seen["gus"] == []  # moderators included


async def test_stored_values_override_the_defaults_and_bad_rows_are_ignored(
    db: Database, cast: Cast, settings: Settings
) -> None:
    async with db.transaction() as s:
        await workspace.save(s, {"channel_creation": "everyone", "edit_window_s": 30}, by=None)  # a hand-edited row
    async with db.read() as s:
        loaded = await workspace.load(s, settings)
    assert (loaded.channel_creation, loaded.edit_window_s) == (settings.channel_creation, 30)


async def test_the_owner_is_who_the_policy_asks_about(db: Database, cast: Cast) -> None:
    group = await channel(db, cast.bob, "crew", kind="private", members=[cast.carol])
    async with db.transaction() as s:
        info = await update_conversation(s, cast.bob, group, UpdateConversation(owner_id=cast.carol.id))
    assert (info.owner_id, info.created_by) == (cast.carol.id, cast.bob.id)
    async with db.transaction() as s:
        renamed = await update_conversation(s, cast.carol, group, UpdateConversation(name="carol's crew"))
    assert renamed.name == "carol's crew"

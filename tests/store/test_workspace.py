"""Workspace settings: stored values over the CHAT_* defaults, read fresh by every reader."""

from __future__ import annotations

from chat.config import Settings
from chat.store import models
from chat.store.db import Database
from chat.store.workspace import Workspace, load, save


async def test_defaults_come_from_the_settings_then_stored_values_win(db: Database) -> None:
    settings = Settings(registration_mode="invite", edit_window_s=600, allowed_domains=("example.com",))
    async with db.read() as session:
        before = await load(session, settings)
    assert before == Workspace.defaults(settings)
    assert before.as_dict()["allowed_domains"] == ["example.com"]
    async with db.transaction() as session:
        await save(session, {"edit_window_s": 60, "allowed_domains": ("a.example", "b.example")}, by=None)
    async with db.transaction() as session:
        await save(session, {"edit_window_s": 90}, by=None)
    async with db.read() as session:
        after = await load(session, settings)
    assert (after.edit_window_s, after.allowed_domains) == (90, ("a.example", "b.example"))
    assert after.registration_mode == "invite"


async def test_a_stored_value_of_the_wrong_type_is_ignored(db: Database) -> None:
    async with db.transaction() as session:
        session.add(models.WorkspaceSetting(key="edit_window_s", value="soon"))
        session.add(models.WorkspaceSetting(key="retention_days", value=True))
        session.add(models.WorkspaceSetting(key="no_such_setting", value=1))
    async with db.read() as session:
        assert await load(session, Settings()) == Workspace.defaults(Settings())

"""The Database: write transactions, the outbox, and the event chain they carry."""

from __future__ import annotations

from sqlalchemy import func, select

from chat.domain.events import append_event
from chat.store import models
from chat.store.db import Database
from tests.factories import Cast


async def test_cast_is_built_through_actions(db: Database, cast: Cast) -> None:
    async with db.read() as s:
        users = (await s.scalars(select(models.User.username).order_by(models.User.id))).all()
        events = (await s.scalars(select(models.Event.kind).where(models.Event.chain == "system"))).all()
    assert users == ["alice", "maya", "bob", "carol", "gus", "robot"]
    assert events == ["user.created"] * 6
    assert cast.robot.is_bot and not cast.alice.is_bot


async def test_outbox_is_published_only_after_commit(db: Database, cast: Cast) -> None:
    published: list[object] = []

    async def after_commit(events: object) -> None:
        published.extend(events)  # type: ignore[call-overload]

    db.after_commit = after_commit
    try:
        async with db.transaction() as s:
            await append_event(s, kind="test.rolled_back", actor_id=cast.alice.id)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert published == []
    async with db.transaction() as s:
        event = await append_event(s, kind="test.kept", actor_id=cast.alice.id)
        assert published == []
    assert published == [event]
    async with db.read() as s:
        kinds = (await s.scalars(select(models.Event.kind).order_by(models.Event.id.desc()).limit(1))).all()
        count = await s.scalar(select(func.count()).select_from(models.Event).where(models.Event.kind.like("test.%")))
    assert kinds == ["test.kept"] and count == 1

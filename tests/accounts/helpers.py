"""Shared by the account tests: row counts, recorded events, conversations built through real actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation
from chat.domain.actors import Actor
from chat.domain.events import Event
from chat.store import models, workspace
from chat.store.db import Database

TABLES = {
    "users": models.User,
    "sessions": models.WebSession,
    "tokens": models.ApiToken,
    "invitations": models.Invitation,
    "memberships": models.Membership,
    "events": models.Event,
}


async def counts(db: Database) -> dict[str, int]:
    """How many rows each account-related table holds."""
    out: dict[str, int] = {}
    async with db.read() as s:
        for name, model in TABLES.items():
            out[name] = int(await s.scalar(select(func.count()).select_from(model)) or 0)
    return out


async def event_kinds(db: Database, after_id: int = 0) -> list[str]:
    async with db.read() as s:
        rows = await s.scalars(select(models.Event.kind).where(models.Event.id > after_id).order_by(models.Event.id))
        return list(rows)


async def last_event_id(db: Database) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.max(models.Event.id))) or 0)


async def events_after(db: Database, after_id: int) -> list[models.Event]:
    async with db.read() as s:
        return list(await s.scalars(select(models.Event).where(models.Event.id > after_id).order_by(models.Event.id)))


def record_published(db: Database) -> list[Event]:
    """Every event handed to the hub after a commit, from now on."""
    seen: list[Event] = []

    async def record(events: Sequence[Any]) -> None:
        seen.extend(events)

    db.after_commit = record
    return seen


async def new_conversation(db: Database, actor: Actor, name: str, kind: str = "public") -> int:
    async with db.transaction() as s:
        info = await create_conversation(s, actor, CreateConversation(kind=kind, name=name))  # type: ignore[arg-type]
    return info.id


async def member_ids(db: Database, conversation_id: int) -> set[int]:
    async with db.read() as s:
        rows = await s.scalars(
            select(models.Membership.user_id).where(models.Membership.conversation_id == conversation_id)
        )
        return set(rows)


async def set_registration_mode(db: Database, mode: str) -> None:
    """Change the registration mode in force, as an admin does in the workspace settings."""
    async with db.transaction() as s:
        await workspace.save(s, {"registration_mode": mode}, by=None)

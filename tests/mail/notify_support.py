"""Fixtures and helpers for the notifier tests: an app whose relay is a real SMTP sink.

``settings`` here overrides the suite's: the app mails through ``sink`` (aiosmtpd on
127.0.0.1), with ``CHAT_MAIL_DOMAIN`` and ``CHAT_PUBLIC_ORIGIN`` set. The app's own
notifier is not started (no lifespan under ``httpx.ASGITransport``): tests call
``run_once(now=…)`` with the clock where they want it.

There is no action yet to verify an address or choose a conversation's level on this
branch (other helpers build them): :func:`verify` and :func:`set_level` write those
columns directly, as the actions will.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from chat.accounts.notification_prefs import apply_patch
from chat.channels.message_commands import MarkRead, SetTopicVisibility
from chat.channels.reads import mark_read
from chat.channels.topics import set_topic_visibility
from chat.config import Settings
from chat.domain.actors import Actor
from chat.mail.notifier import Notifier
from chat.push.notice import PushNotice
from chat.store import models
from chat.store.db import Database
from tests.mail.smtpd import SmtpSink

ORIGIN = "https://chat.example.com"
DOMAIN = "chat.example.com"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture
def settings(database_url: str, tmp_path: Path, sink: SmtpSink) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        allowed_hosts=("testserver",),
        smtp_url=sink.url,
        mail_domain=DOMAIN,
        public_origin=ORIGIN,
    )


class Pushes:
    """A recording ``PushTo``: the notices the notifier asked to push, by user."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, PushNotice]] = []

    async def __call__(self, user_id: int, notice: PushNotice) -> None:
        self.sent.append((user_id, notice))


def notifier_for(db: Database, settings: Settings, **kw: Any) -> Notifier:
    from chat.mail.smtp import Mailer

    return Notifier(db, settings, kw.pop("mailer", None) or Mailer(settings), **kw)


async def started(notifier: Notifier) -> Notifier:
    """A notifier after its first pass (its cursor starts at the newest event)."""
    await notifier.run_once()
    return notifier


async def verify(db: Database, actor: Actor, email: str | None = None) -> str:
    address = email or f"{actor.username}@example.com"
    async with db.transaction() as s:
        await s.execute(
            update(models.User)
            .where(models.User.id == actor.id)
            .values(email=address, email_key=address.lower(), email_verified_at=models.utcnow())
        )
    return address


async def set_prefs(db: Database, actor: Actor, now: datetime | None = None, **patch: Any) -> None:
    async with db.transaction() as s:
        user = await s.get(models.User, actor.id)
        assert user is not None
        user.notification_settings = apply_patch(user.notification_settings, patch, now=now or models.utcnow())


async def set_level(db: Database, actor: Actor, conversation_id: int, level: str | None) -> None:
    ms = models.Membership
    async with db.transaction() as s:
        await s.execute(
            update(ms).where(ms.user_id == actor.id, ms.conversation_id == conversation_id).values(notify=level)
        )


async def set_topic(db: Database, actor: Actor, conversation_id: int, topic: str, mode: str) -> None:
    async with db.transaction() as s:
        await set_topic_visibility(s, actor, conversation_id, topic, SetTopicVisibility(mode=mode))  # type: ignore[arg-type]


async def read_up_to(db: Database, actor: Actor, conversation_id: int, message_id: int) -> None:
    async with db.transaction() as s:
        await mark_read(s, actor, conversation_id, MarkRead(up_to_message_id=message_id))

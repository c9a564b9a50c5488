"""Fixtures of the inbound mail tests (``support.py`` has the helpers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.mail.inbound.support import Mailroom, mail_settings, running


@pytest.fixture
async def room(database_url: str, tmp_path: Path) -> AsyncIterator[Mailroom]:
    settings = mail_settings(database_url, tmp_path)
    async with running(settings) as mailroom:
        yield mailroom


@pytest.fixture
async def tight_room(database_url: str, tmp_path: Path) -> AsyncIterator[Mailroom]:
    """Low limits: 3 mails per sender, 4 per conversation, small mails."""
    settings = mail_settings(
        database_url, tmp_path, mail_limit_per_sender=3, mail_limit_per_channel=4, mail_max_bytes=200_000
    )
    async with running(settings) as mailroom:
        yield mailroom

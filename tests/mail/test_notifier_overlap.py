"""Two notifier passes that overlap (a process lost its lease mid-pass, or two processes race): a
missed-message mail still goes out once, because claiming a row is one conditional UPDATE.

The barrier makes the race certain rather than likely: both passes have read the row as due and
are about to claim it before either does.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from chat.config import Settings
from chat.mail import missed
from chat.mail.notifier import Notifier, pending_count
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import direct, post
from tests.conftest import BACKENDS
from tests.factories import Cast
from tests.mail.notify_support import notifier_for, settings, sink, started, verify
from tests.mail.smtpd import SmtpSink

__all__ = ["settings", "sink"]  # fixtures

LATER = timedelta(seconds=601)


class Barrier:
    """Holds every caller of ``claim`` until ``parties`` of them arrived (or ``within_s`` passed)."""

    def __init__(self, parties: int, within_s: float = 10.0) -> None:
        self.parties, self.within_s = parties, within_s
        self.arrived = 0
        self.all_there = asyncio.Event()

    def wrap(self, claim: Any) -> Any:
        async def gated(*args: Any, **kwargs: Any) -> Any:
            self.arrived += 1
            if self.arrived >= self.parties:
                self.all_there.set()
            async with asyncio.timeout(self.within_s):
                await self.all_there.wait()
            return await claim(*args, **kwargs)

        return gated


POSTGRESQL = next(p for p in BACKENDS if p.id == "postgresql")


async def bob_is_due_a_mail(db: Database, cast: Cast, settings: Settings) -> tuple[Notifier, str, datetime]:
    """A DM from alice to bob, its pending row made: ``(notifier, bob's address, when it is due)``."""
    notifier = await started(notifier_for(db, settings))
    address = await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "ping", topic="")
    await notifier.process_events(msg.created_at)
    return notifier, address, msg.created_at + LATER


# SQLite's one writer runs write transactions one after the other: a pass waiting inside one would
# keep the other out for good, and two passes cannot be inside at once anyway: PostgreSQL only
@pytest.mark.parametrize("database_url", [POSTGRESQL], indirect=True)
async def test_two_overlapping_passes_mail_a_row_once(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier, address, at = await bob_is_due_a_mail(db, cast, settings)
    barrier = Barrier(2)
    monkeypatch.setattr(missed, "claim", barrier.wrap(missed.claim))
    sent = await asyncio.gather(
        missed.send_due(db, notifier.mailer, notifier.base, at),
        missed.send_due(db, notifier.mailer, notifier.base, at + timedelta(seconds=1)),
    )
    assert barrier.arrived == 2  # both passes saw the row due and went to claim it
    assert sorted(sent) == [0, 1]
    assert len(sink.to(address)) == 1  # the relay accepted it before send_due returned
    assert await pending_count(db) == 0


async def test_a_claimed_row_is_not_claimed_again_before_the_claim_runs_out(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier, _address, at = await bob_is_due_a_mail(db, cast, settings)
    p = models.PendingNotification
    async with db.transaction() as session:
        batch = await missed.claim(session, (await session.scalar(select(p.id))) or 0, notifier.base, at)
    assert batch is not None
    async with db.read() as session:
        row = (await session.scalars(select(p))).one()
    assert row.due_at == at + timedelta(seconds=missed.CLAIM_S)
    # a second claim at a time before the claim runs out changes nothing
    async with db.transaction() as session:
        assert await missed.claim(session, row.id, notifier.base, at + timedelta(seconds=missed.CLAIM_S - 1)) is None
    async with db.read() as session:
        assert (await session.scalars(select(p.due_at))).one() == row.due_at


async def test_a_pass_that_lost_its_lease_stops_between_rows(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    one = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    await verify(db, cast.carol)
    first = await direct(db, cast.alice, cast.bob)
    second = await direct(db, cast.alice, cast.carol)
    await post(db, cast.alice, first, "one", topic="")
    msg = await post(db, cast.alice, second, "two", topic="")
    await one.process_events(msg.created_at)
    assert await pending_count(db) == 2
    at = msg.created_at + LATER
    other = notifier_for(db, settings)  # another process takes the lease once it expired
    assert (await other.run_once(now=msg.created_at + timedelta(seconds=599))).leader  # one's lease ran out
    asked: list[bool] = []

    async def still_leader(now: Any) -> bool:
        held = await one.hold_lease(now)
        asked.append(held)
        return held

    assert await missed.send_due(db, one.mailer, one.base, at, still_leader=still_leader) == 0
    assert asked == [False] and sink.messages == [] and await pending_count(db) == 2

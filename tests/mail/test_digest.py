"""The daily digest against a real SMTP server, the clock moved from day to day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from chat.config import Settings
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.mail.notify_support import (
    ORIGIN,
    notifier_for,
    read_up_to,
    set_prefs,
    set_topic,
    settings,
    sink,
    started,
    verify,
)
from tests.mail.smtpd import SmtpSink

__all__ = ["settings", "sink"]  # fixtures


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def test_the_digest_lists_followed_unread_topics_once_a_day(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    address = await verify(db, cast.bob)
    await set_prefs(db, cast.bob, digest={"mode": "daily", "hour": 8, "time_zone": "America/Bogota"})
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    await post(db, cast.alice, sales, "kick-off", topic="Q3 tender")
    await set_topic(db, cast.bob, sales, "Q3 tender", "followed")
    await post(db, cast.alice, sales, "numbers are in", topic="Q3 tender")
    last = await post(db, cast.carol, sales, "looks good", topic="Q3 tender")
    await post(db, cast.alice, sales, "not followed", topic="lunch")
    tomorrow = last.created_at + timedelta(days=1)

    # Bogotá is UTC-5 all year: 12:30 UTC is 07:30 there, not yet; 13:05 UTC is 08:05
    assert (await notifier.run_once(now=at(tomorrow, 12, 30))).digests == 0
    assert (await notifier.run_once(now=at(tomorrow, 13, 5))).digests == 1
    [got] = await sink.wait_for(1, to=address)
    assert got.message["Subject"] == "Your daily digest: 3 unread messages in 1 followed topic"
    assert "#sales > Q3 tender: 3 unread, last by Carol" in got.text
    assert f"{ORIGIN}/#/c/{sales}/t/Q3%20tender" in got.text and "lunch" not in got.text
    assert got.message["List-Unsubscribe"].startswith(f"<{ORIGIN}/unsubscribe?token={cast.bob.id}.digest.")
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # once a day
    assert (await notifier.run_once(now=at(tomorrow, 22))).digests == 0
    assert (await notifier.run_once(now=at(tomorrow + timedelta(days=1), 13, 5))).digests == 1
    assert len(sink.to(address)) == 2
    async with db.read() as s:
        logged = await s.get(models.DigestLog, cast.bob.id)
    assert logged is not None and logged.last_sent_at == at(tomorrow + timedelta(days=1), 13, 5)


async def test_nothing_unread_means_no_digest_and_quiet_hours_defer_it(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    await set_prefs(db, cast.bob, digest={"mode": "daily", "hour": 8, "time_zone": "UTC"})
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    first = await post(db, cast.alice, sales, "kick-off", topic="Q3")
    await set_topic(db, cast.bob, sales, "Q3", "followed")
    await read_up_to(db, cast.bob, sales, first.id)
    day = first.created_at + timedelta(days=1)
    assert (await notifier.run_once(now=at(day, 8, 1))).digests == 0
    assert sink.messages == []
    # the next day: something unread, but bob is in quiet hours until 09:00
    await post(db, cast.alice, sales, "news", topic="Q3")
    quiet = {"days": list(range(7)), "start": "07:00", "end": "09:00", "time_zone": "UTC"}
    await set_prefs(db, cast.bob, quiet_hours=quiet)
    next_day = day + timedelta(days=1)
    assert (await notifier.run_once(now=at(next_day, 8, 1))).digests == 0
    assert (await notifier.run_once(now=at(next_day, 9, 0))).digests == 1
    await sink.wait_for(1)


async def test_no_digest_without_a_verified_address(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    await set_prefs(db, cast.bob, digest={"mode": "daily", "hour": 0, "time_zone": "UTC"})
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    msg = await post(db, cast.alice, sales, "kick-off", topic="Q3")
    await set_topic(db, cast.bob, sales, "Q3", "followed")
    assert (await notifier.run_once(now=msg.created_at + timedelta(days=1))).digests == 0
    async with db.read() as s:
        assert (await s.scalars(select(models.DigestLog))).all() == []
    assert sink.messages == []

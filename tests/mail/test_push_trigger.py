"""The push trigger: who the notifier asks ``chat.push`` to push to, and what the notice says.

The sender is ``chat.push`` (another part); here a recording ``PushTo`` stands in for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta

import pytest

from chat.accounts.users import actor_of, create_user
from chat.config import Settings
from chat.domain.actors import Actor
from chat.mail.notifier import PUSH_CONCURRENCY
from chat.push.notice import PushNotice
from chat.store.db import Database
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast, password_of
from tests.mail.notify_support import (
    ORIGIN,
    Pushes,
    notifier_for,
    set_level,
    set_prefs,
    settings,
    sink,
    started,
    verify,
)
from tests.mail.smtpd import SmtpSink

__all__ = ["settings", "sink"]  # fixtures


async def test_a_mention_is_pushed_as_plain_text_with_a_link(db: Database, cast: Cast, settings: Settings) -> None:
    pushes = Pushes()
    notifier = await started(notifier_for(db, settings, push=pushes))
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    msg = await post(db, cast.alice, sales, "**Urgent**: @bob, see <b>this</b>", topic="Q3 tender")
    report = await notifier.run_once(now=msg.created_at)
    assert report.pushed == 1
    [(user, notice)] = pushes.sent
    assert user == cast.bob.id  # carol was not mentioned, alice wrote it
    assert notice.title == "Alice in #sales › Q3 tender"
    assert notice.body == "Urgent: @Bob, see <b>this</b>"  # the text Salon shows, never markdown
    assert notice.url == f"{ORIGIN}/#/c/{sales}/m/{msg.id}"
    assert (notice.tag, notice.conversation_id, notice.message_id) == (f"c{sales}", sales, msg.id)
    await notifier.run_once(now=msg.created_at + timedelta(seconds=5))
    assert len(pushes.sent) == 1  # once


async def test_only_mentions_and_dms_are_pushed_to_people_away(db: Database, cast: Cast, settings: Settings) -> None:
    pushes = Pushes()
    online = {cast.carol.id}
    notifier = await started(notifier_for(db, settings, push=pushes, is_online=online.__contains__))
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    await set_level(db, cast.bob, sales, "all")
    await post(db, cast.alice, sales, "plain news", topic="news")  # all, but no mention: mail only
    await post(db, cast.alice, sales, "@carol you are here", topic="news")  # carol has a tab open
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "a dm", topic="")
    await notifier.run_once(now=msg.created_at)
    assert [(u, n.title) for u, n in pushes.sent] == [(cast.bob.id, "Alice (direct message)")]


async def test_no_push_when_paused_quiet_or_turned_off(db: Database, cast: Cast, settings: Settings) -> None:
    pushes = Pushes()
    notifier = await started(notifier_for(db, settings, push=pushes))
    dm_bob = await direct(db, cast.alice, cast.bob)
    dm_carol = await direct(db, cast.alice, cast.carol)
    dm_maya = await direct(db, cast.alice, cast.maya)
    now = (await post(db, cast.alice, dm_bob, "warm up", topic="")).created_at
    await notifier.run_once(now=now)
    pushes.sent.clear()
    await set_prefs(db, cast.bob, paused_until=(now + timedelta(hours=1)).isoformat())
    await set_prefs(db, cast.carol, push=False)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    quiet = {"days": list(range(7)), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "time_zone": "UTC"}
    await set_prefs(db, cast.maya, quiet_hours=quiet)
    for dm in (dm_bob, dm_carol, dm_maya):
        await post(db, cast.alice, dm, "ping", topic="")
    await notifier.run_once(now=now + timedelta(seconds=1))
    assert pushes.sent == []


async def test_a_failing_push_is_logged_and_the_pass_goes_on(db: Database, cast: Cast, settings: Settings) -> None:
    calls: list[int] = []

    async def broken(user_id: int, _notice: object) -> None:
        calls.append(user_id)
        raise OSError("push service down")

    notifier = await started(notifier_for(db, settings, push=broken))
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "ping", topic="")
    report = await notifier.run_once(now=msg.created_at)
    assert calls == [cast.bob.id] and report.pushed == 0 and report.events == 1


async def test_without_a_public_origin_the_link_is_root_relative(db: Database, cast: Cast, settings: Settings) -> None:
    pushes = Pushes()
    unset = dataclasses.replace(settings, public_origin="")
    notifier = await started(notifier_for(db, unset, push=pushes))
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "ping", topic="")
    await notifier.run_once(now=msg.created_at)
    [(_user, notice)] = pushes.sent
    assert notice.url == f"/#/c/{dm}/m/{msg.id}"  # the service worker opens it at its own origin
    assert notifier.base == f"http://{unset.host}:{unset.port}"  # mails still need an absolute link


@pytest.mark.parametrize(
    ("smtp", "public_origin", "warned"), [(True, "", True), (True, ORIGIN, False), (False, "", False)]
)
async def test_a_relay_without_a_public_origin_is_warned_about_at_start(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture, smtp: bool, public_origin: str, warned: bool
) -> None:
    chosen = dataclasses.replace(settings, smtp_url=settings.smtp_url if smtp else "", public_origin=public_origin)
    notifier = notifier_for(db, chosen, push=Pushes())
    with caplog.at_level(logging.WARNING, logger="chat.mail.notifier"):
        notifier.start()
        await notifier.close()
    said = [r.getMessage() for r in caplog.records if "CHAT_PUBLIC_ORIGIN" in r.getMessage()]
    assert len(said) == int(warned)
    if warned:
        assert "CHAT_SMTP_URL" in said[0] and f"http://{settings.host}:{settings.port}" in said[0]


class StuckPushes:
    """A ``PushTo`` whose every push waits until :attr:`release` is set; counts how many run at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = self.peak = 0
        self.done: list[int] = []

    async def __call__(self, user_id: int, _notice: PushNotice) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        self.done.append(user_id)


async def more_members(db: Database, count: int) -> list[Actor]:
    async with db.transaction() as s:
        return [
            actor_of(await create_user(s, username=f"crew{n:02d}", password=password_of("crew"), role="member"))
            for n in range(count)
        ]


async def test_slow_push_services_neither_hold_up_the_mail_nor_run_more_than_the_limit_at_once(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    stuck = StuckPushes()
    notifier = await started(notifier_for(db, settings, push=stuck, push_wait_s=0.2))
    address = await verify(db, cast.bob)
    others = await more_members(db, 2 * PUSH_CONCURRENCY)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, *others])
    msg = await post(db, cast.alice, sales, "@all the server moves tonight", topic="ops")
    report = await notifier.run_once(now=msg.created_at + timedelta(seconds=601))
    # the pass went on to the mail while every push was still waiting for its push service
    assert (report.events, report.pushed, report.mailed) == (1, 0, 1)
    assert len(sink.to(address)) == 1
    assert stuck.running == PUSH_CONCURRENCY and stuck.done == []
    stuck.release.set()
    async with asyncio.timeout(30):  # the rest go out in the background
        while len(stuck.done) < len(others) + 1:  # noqa: ASYNC110 - waiting for background tasks
            await asyncio.sleep(0.01)
    assert sorted(stuck.done) == sorted([cast.bob.id, *(m.id for m in others)])
    assert stuck.peak == PUSH_CONCURRENCY

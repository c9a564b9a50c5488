"""The push trigger: who the notifier asks ``chat.push`` to push to, and what the notice says.

The sender is ``chat.push`` (another part); here a recording ``PushTo`` stands in for it.
"""

from __future__ import annotations

from datetime import timedelta

from chat.config import Settings
from chat.store.db import Database
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast
from tests.mail.notify_support import ORIGIN, Pushes, notifier_for, set_level, set_prefs, settings, sink, started

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

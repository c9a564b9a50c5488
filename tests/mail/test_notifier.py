"""Mail when missed, end to end: real actions, the real database, a real SMTP server, a moved clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from chat.config import Settings
from chat.mail.addresses import ReplyAddress, parse_local_part, reply_key
from chat.mail.notifier import Notifier, notifier_position, pending_count
from chat.mail.smtp import Mailer
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast
from tests.integration.server import free_port
from tests.mail.notify_support import (
    DOMAIN,
    ORIGIN,
    notifier_for,
    read_up_to,
    set_level,
    set_prefs,
    set_topic,
    settings,
    sink,
    started,
    verify,
)
from tests.mail.smtpd import SmtpSink

__all__ = ["settings", "sink"]  # fixtures

DELAY = timedelta(seconds=600)
LATER = DELAY + timedelta(seconds=1)


async def test_a_mention_is_mailed_once_after_the_delay(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    address = await verify(db, cast.bob)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    msg = await post(
        db, cast.alice, sales, "Can you check **the tender**, @bob? See https://example.org/t", topic="Q3 tender"
    )

    early = await notifier.run_once(now=msg.created_at + DELAY - timedelta(seconds=1))
    assert early.pending == 1 and early.mailed == 0 and sink.messages == []
    assert (await notifier.run_once(now=msg.created_at + LATER)).mailed == 1
    [got] = await sink.wait_for(1, to=address)
    mail = got.message
    assert mail["Subject"] == "#sales › Q3 tender"
    assert mail["Auto-Submitted"] == "auto-generated"
    link = f"{ORIGIN}/#/c/{sales}/m/{msg.id}"
    assert link in got.text and f'href="{link}"' in got.html
    assert "the tender" in got.text and "**" not in got.text  # from the safe HTML, not the markdown
    assert "(https://example.org/t)" not in got.text and "https://example.org/t" in got.text
    assert msg.html.strip() in got.html.replace("\r\n", "\n") and "Alice" in got.text
    # Reply-To names bob and the message, signed
    local, domain = str(mail["Reply-To"]).split("@")
    assert domain == DOMAIN
    assert parse_local_part(await reply_key(db), local) == ReplyAddress(cast.bob.id, msg.id)
    # one-click unsubscribe (RFC 8058)
    assert mail["List-Unsubscribe"].startswith(f"<{ORIGIN}/unsubscribe?token={cast.bob.id}.missed.")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    async with db.read() as s:
        thread = await s.get(models.MailThread, mail["Message-ID"])
    assert thread is not None and (thread.conversation_id, thread.topic_key, thread.message_id) == (
        sales,
        "q3 tender",
        msg.id,
    )
    # carol was not mentioned (channel default: mentions); alice wrote it; nothing is sent twice
    assert (await notifier.run_once(now=msg.created_at + LATER * 3)).mailed == 0
    assert len(sink.messages) == 1 and await pending_count(db) == 0


async def test_reading_it_in_salon_first_cancels_the_mail(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    await verify(db, cast.carol)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    msg = await post(db, cast.alice, sales, "@bob @carol ping", topic="Q3")
    await notifier.run_once(now=msg.created_at)
    assert await pending_count(db) == 2
    await read_up_to(db, cast.bob, sales, msg.id)  # the read event deletes bob's row at once
    await notifier.run_once(now=msg.created_at + timedelta(seconds=1))
    assert await pending_count(db) == 1
    await notifier.run_once(now=msg.created_at + LATER)
    assert [m.rcpt_tos for m in sink.messages] == [["carol@example.com"]]


async def test_a_read_marker_set_after_the_rows_was_made_is_checked_at_send_time(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    first = await post(db, cast.alice, dm, "one", topic="")
    await notifier.run_once(now=first.created_at)
    second = await post(db, cast.alice, dm, "two", topic="")
    # the read event and the extension arrive in the same pass: the row goes away
    await read_up_to(db, cast.bob, dm, second.id)
    await notifier.run_once(now=first.created_at + LATER)
    assert sink.messages == [] and await pending_count(db) == 0


@pytest.mark.parametrize(
    ("level", "body", "mailed"),
    [
        (None, "plain news", False),  # channels default to mentions
        (None, "hi @bob", True),
        (None, "hi @all", True),
        ("mentions", "plain news", False),
        ("mentions", "hi @bob", True),
        ("all", "plain news", True),
        ("nothing", "hi @bob", False),
        ("nothing", "hi @all", False),
    ],
)
async def test_the_conversation_level_decides(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink, level: str | None, body: str, mailed: bool
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await set_level(db, cast.bob, sales, level)
    msg = await post(db, cast.alice, sales, body, topic="news")
    await notifier.run_once(now=msg.created_at + LATER)
    assert len(sink.messages) == int(mailed)


async def test_a_direct_message_is_mailed_and_a_bot_or_the_author_never(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.alice)
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "lunch?", topic="")
    await notifier.run_once(now=msg.created_at + LATER)
    [got] = await sink.wait_for(1)
    assert got.rcpt_tos == ["bob@example.com"] and got.message["Subject"] == "Alice (direct message)"
    assert "lunch?" in got.text


async def test_a_muted_topic_mails_only_a_mention_by_name(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await set_level(db, cast.bob, sales, "all")
    await post(db, cast.alice, sales, "first", topic="noise")
    await set_topic(db, cast.bob, sales, "noise", "muted")
    plain = await post(db, cast.alice, sales, "more noise", topic="noise")
    everyone = await post(db, cast.alice, sales, "@all noise", topic="noise")
    await notifier.run_once(now=everyone.created_at + LATER)
    assert sink.messages == [] and await pending_count(db) == 0
    named = await post(db, cast.alice, sales, "@bob this one is for you", topic="noise")
    await notifier.run_once(now=named.created_at + LATER)
    [got] = await sink.wait_for(1)
    assert "for you" in got.text and "more noise" not in got.text
    assert plain.id < named.id


async def test_an_unverified_address_is_never_mailed(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    async with db.transaction() as s:
        user = await s.get(models.User, cast.bob.id)
        assert user is not None
        user.email = "bob@example.com"  # given, never confirmed
    await verify(db, cast.carol)
    dm = await direct(db, cast.alice, cast.bob)
    dm_carol = await direct(db, cast.alice, cast.carol)
    msg = await post(db, cast.alice, dm, "hello", topic="")
    await post(db, cast.alice, dm_carol, "hello", topic="")
    await notifier.run_once(now=msg.created_at)
    assert await pending_count(db) == 1  # carol's
    async with db.transaction() as s:  # carol's address stops being verified before the mail is due
        user = await s.get(models.User, cast.carol.id)
        assert user is not None
        user.email_verified_at = None
    await notifier.run_once(now=msg.created_at + LATER)
    assert sink.messages == [] and await pending_count(db) == 0


async def test_quiet_hours_defer_the_mail_to_their_end(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "late night question", topic="")
    due = msg.created_at + LATER
    start, end = due - timedelta(hours=1), due + timedelta(hours=2)
    quiet = {"days": list(range(7)), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "time_zone": "UTC"}
    await set_prefs(db, cast.bob, quiet_hours=quiet)
    await notifier.run_once(now=due)
    assert sink.messages == []
    async with db.read() as s:
        row = (await s.scalars(select(models.PendingNotification))).one()
    assert row.due_at == end.replace(second=0, microsecond=0)
    await notifier.run_once(now=row.due_at - timedelta(seconds=1))
    assert sink.messages == []
    await notifier.run_once(now=row.due_at)
    await sink.wait_for(1)


async def test_a_pause_defers_too(db: Database, cast: Cast, settings: Settings, sink: SmtpSink) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "hello", topic="")
    until = msg.created_at + timedelta(hours=3)
    await set_prefs(db, cast.bob, paused_until=until.isoformat())
    await notifier.run_once(now=msg.created_at + LATER)
    assert sink.messages == []
    await notifier.run_once(now=until)
    await sink.wait_for(1)


async def test_several_messages_make_one_mail(db: Database, cast: Cast, settings: Settings, sink: SmtpSink) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    await set_prefs(db, cast.bob, email_delay_s=60)
    dm = await direct(db, cast.alice, cast.bob)
    first = await post(db, cast.alice, dm, "first", topic="")
    await notifier.run_once(now=first.created_at + timedelta(seconds=10))
    await post(db, cast.alice, dm, "second", topic="")
    await post(db, cast.alice, dm, "third", topic="")
    report = await notifier.run_once(now=first.created_at + timedelta(seconds=59))
    assert report.pending == 2 and sink.messages == []  # later messages extend the row, not its due time
    await notifier.run_once(now=first.created_at + timedelta(seconds=61))
    [got] = await sink.wait_for(1)
    text = got.text
    assert text.index("first") < text.index("second") < text.index("third")  # newest last
    assert await pending_count(db) == 0


async def test_a_relay_down_then_up_sends_exactly_one_mail(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    down = Mailer(Settings(smtp_url=f"smtp://127.0.0.1:{free_port()}", mail_domain=DOMAIN, public_origin=ORIGIN))
    notifier = await started(notifier_for(db, settings, mailer=down))
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "are you there?", topic="")
    failed_at = msg.created_at + LATER
    assert (await notifier.run_once(now=failed_at)).mailed == 0
    async with db.read() as s:
        row = (await s.scalars(select(models.PendingNotification))).one()
    assert row.due_at >= failed_at + timedelta(seconds=60)  # kept, backed off
    assert (await notifier.run_once(now=failed_at + timedelta(seconds=1))).mailed == 0  # not retried at once
    notifier.mailer = Mailer(settings)  # the relay is back
    assert (await notifier.run_once(now=row.due_at)).mailed == 1
    assert (await notifier.run_once(now=row.due_at + timedelta(hours=2))).mailed == 0
    assert len(await sink.wait_for(1)) == 1 and await pending_count(db) == 0


class Crashing(Notifier):
    """Dies inside the events transaction, after the pending rows were written."""

    async def derived(self, session: object) -> None:
        raise RuntimeError("killed mid-way")


async def test_cursor_and_pending_rows_commit_together(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    first = await started(notifier_for(db, settings))
    await first.release()
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "do not lose me", topic="")
    before = await notifier_position(db)
    crashing = Crashing(db, settings, Mailer(settings))
    with pytest.raises(RuntimeError):
        await crashing.run_once(now=msg.created_at)
    assert await notifier_position(db) == before and await pending_count(db) == 0  # nothing half-done
    # a new process takes over once the dead one's lease ran out
    restarted = notifier_for(db, settings)
    assert not (await restarted.run_once(now=msg.created_at + timedelta(seconds=1))).leader
    report = await restarted.run_once(now=msg.created_at + timedelta(seconds=61))
    assert report.leader and report.pending == 1
    again = notifier_for(db, settings)
    await restarted.release()
    assert (await again.run_once(now=msg.created_at + timedelta(seconds=62))).pending == 0  # read once
    await again.run_once(now=msg.created_at + LATER)
    assert len(await sink.wait_for(1)) == 1
    assert await notifier_position(db) == (await _latest(db))


async def test_a_fresh_notifier_does_not_mail_history(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "old news", topic="")
    notifier = notifier_for(db, settings)
    await notifier.run_once(now=msg.created_at)
    await notifier.run_once(now=msg.created_at + LATER)
    assert sink.messages == [] and await notifier_position(db) == await _latest(db)


async def _latest(db: Database) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(func.max(models.Event.id))) or 0)


async def test_two_processes_never_both_derive_a_batch(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink
) -> None:
    one = await started(notifier_for(db, settings))
    other = notifier_for(db, settings)  # another server process on the same database
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "once", topic="")
    assert not (await other.run_once(now=msg.created_at)).leader  # the lease is taken
    # even without the lease (both read the same cursor at once), the cursor's compare-and-set lets one win
    results = await asyncio.gather(one.process_events(msg.created_at), other.process_events(msg.created_at))
    assert sorted(touched for _read, touched, _pushed, _more in results) == [0, 1]
    assert await pending_count(db) == 1
    await one.run_once(now=msg.created_at + LATER)
    assert len(await sink.wait_for(1)) == 1

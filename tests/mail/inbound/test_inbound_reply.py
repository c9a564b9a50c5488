"""Reply by mail, through the real SMTP receiver: a reply lands in the message's current topic
as its user, quotes and signature stripped; forged, stale and foreign replies bounce with a reason."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import update

from chat.channels.commands import UpdateConversation
from chat.channels.conversations import remove_member
from chat.channels.message_commands import DeleteMessage, UpdateTopic
from chat.channels.messages import delete_message
from chat.channels.topics import update_topic
from chat.store import models
from tests.mail.inbound.support import DOMAIN, Mailroom, mail

BOB = "bob@example.org"

EN_REPLY = """Sounds good, I will send the figures tomorrow morning.

Thanks,
Bob

On Mon, 7 Dec 2026 at 10:00, Salon <salon@chat.example.test> wrote:
> Alice wrote in #sales > Q3 tender:
> Can you check the numbers before Friday?
"""

FR_REPLY = """D'accord, je m'en occupe cet après-midi.

Cordialement,
Bob

Le lun. 7 déc. 2026 à 10:00, Salon <salon@chat.example.test> a écrit :
> Alice a écrit dans #ventes :
> Tu peux vérifier les chiffres ?
"""

SIGNED = """Agreed, let's ship it.

--
Bob Martin
Sales, ACME Corp.
+33 1 23 45 67 89
"""


async def _setup(room: Mailroom) -> tuple[int, int]:
    cast = room.cast
    await room.verify(cast.bob, BOB)
    conversation = await room.channel(cast.alice, "sales", cast.bob)
    message = await room.post(cast.alice, conversation, "Q3 tender", "Can you check the numbers before Friday?")
    return conversation, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EN_REPLY, "Sounds good, I will send the figures tomorrow morning."),
        (FR_REPLY, "D'accord, je m'en occupe cet après-midi."),
        (SIGNED, "Agreed, let's ship it."),
    ],
    ids=["en", "fr", "signature"],
)
async def test_a_reply_posts_its_new_text_into_the_topic_as_the_user(room: Mailroom, text: str, expected: str) -> None:
    conversation, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    await room.send(mail(f"Bob Martin <{BOB}>", to, "Re: [#sales] Q3 tender", text), to, BOB)
    stored = await room.messages(conversation)
    assert len(stored) == 2
    reply = stored[-1]
    assert (reply.author_id, reply.topic, reply.body) == (room.cast.bob.id, "Q3 tender", expected)


async def test_a_reply_follows_its_topic_when_renamed_and_is_stored_once(room: Mailroom) -> None:
    conversation, message = await _setup(room)
    async with room.db.transaction() as s:
        await update_topic(s, room.cast.alice, conversation, UpdateTopic(topic="Q3 tender", new_name="Q3 tender (won)"))
    to = await room.reply_to(room.cast.bob, message)
    reply = mail(BOB, to, "Re: Q3 tender", "Great news.")
    await room.send(reply, to, BOB)
    await room.send(reply, to, BOB)  # the same mail delivered again
    stored = await room.messages(conversation)
    assert [(m.topic, m.body) for m in stored[1:]] == [("Q3 tender (won)", "Great news.")]


async def test_a_forged_reply_address_is_refused_at_rcpt_with_its_reason(room: Mailroom) -> None:
    _, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    forged = to.replace(f"r.{room.cast.bob.id}.", f"r.{room.cast.carol.id}.")
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await room.send(mail(BOB, forged, "Re: Q3", "hello"), forged, BOB)
    code, text = refused.value.recipients[forged]
    assert code == 550
    assert b"signature does not match" in text
    with pytest.raises(smtplib.SMTPRecipientsRefused) as other:
        await room.send(mail(BOB, "r.1.2.3@elsewhere.org", "x", "hello"), "r.1.2.3@elsewhere.org", BOB)
    assert other.value.recipients["r.1.2.3@elsewhere.org"][0] == 550
    assert await room.snapshot() == before


async def _stale_reason(room: Mailroom, to: str) -> bytes:
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await room.send(mail(BOB, to, "Re: Q3", "hello"), to, BOB)
    assert await room.snapshot() == before
    code, text = refused.value.recipients[to]
    assert code == 550
    return text


async def test_a_reply_to_a_deleted_message_bounces(room: Mailroom) -> None:
    _, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    async with room.db.transaction() as s:
        await delete_message(s, room.cast.alice, message, DeleteMessage(reason=""))
    assert b"was deleted" in await _stale_reason(room, to)


async def test_a_reply_from_someone_removed_from_a_private_group_bounces(room: Mailroom) -> None:
    cast = room.cast
    await room.verify(cast.bob, BOB)
    group = await room.channel(cast.alice, "board", cast.bob, kind="private")
    message = await room.post(cast.alice, group, "budget", "Numbers attached")
    to = await room.reply_to(cast.bob, message)
    async with room.db.transaction() as s:
        await remove_member(s, cast.alice, group, cast.bob.id)
    assert b"no longer see" in await _stale_reason(room, to)


async def test_a_reply_of_a_deactivated_user_or_into_an_archived_channel_bounces(room: Mailroom) -> None:
    conversation, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    async with room.db.transaction() as s:
        await s.execute(update(models.User).where(models.User.id == room.cast.bob.id).values(active=False))
    assert b"deactivated" in await _stale_reason(room, to)
    async with room.db.transaction() as s:
        await s.execute(update(models.User).where(models.User.id == room.cast.bob.id).values(active=True))
    from chat.channels.conversations import update_conversation

    async with room.db.transaction() as s:
        await update_conversation(s, room.cast.alice, conversation, UpdateConversation(archived=True))
    assert b"no longer post" in await _stale_reason(room, to)


async def test_a_reply_from_another_address_is_refused(room: Mailroom) -> None:
    _, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    await room.verify(room.cast.carol, "carol@example.org")
    before = await room.snapshot()
    for sender in ("mallory@example.net", "carol@example.org"):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await room.send(mail(sender, to, "Re: Q3", "I am Bob, honest"), to, sender)
        assert refused.value.smtp_code == 550
        assert b"belongs to another account" in refused.value.smtp_error
    assert await room.snapshot() == before


async def test_a_reply_with_nothing_new_is_refused(room: Mailroom) -> None:
    _, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    only_quote = "On Mon, 7 Dec 2026 at 10:00, Salon <salon@chat.example.test> wrote:\n> Can you check?\n"
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await room.send(mail(BOB, to, "Re: Q3", only_quote), to, BOB)
    assert b"no new text" in refused.value.smtp_error
    assert await room.snapshot() == before


async def test_an_html_only_reply_is_read_as_text(room: Mailroom) -> None:
    conversation, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    reply = mail(BOB, to, "Re: Q3", "")
    reply.set_content(
        "<html><body><p>Yes, <b>confirmed</b> &amp; signed.</p><script>alert(1)</script></body></html>", subtype="html"
    )
    await room.send(reply, to, BOB)
    assert (await room.messages(conversation))[-1].body == "Yes, confirmed & signed."
    assert DOMAIN in to


async def test_a_reply_longer_than_a_message_is_cut_and_says_so(room: Mailroom) -> None:
    conversation, message = await _setup(room)
    to = await room.reply_to(room.cast.bob, message)
    await room.send(mail(BOB, to, "Re: Q3", "word " * 3000), to, BOB)
    body = (await room.messages(conversation))[-1].body
    assert len(body) <= room.settings.max_message_chars and body.startswith("word word") and body.endswith("[…]")

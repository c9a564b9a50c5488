"""Delivery as a whole, through the real receiver and ``chat mail-ingest``: a big mail never stalls
the server's event loop; a mail to several Salon addresses reaches each of them, all or none; the
limits count what inbound mail stored, whatever Message-ID the sender chose."""

from __future__ import annotations

import asyncio
import smtplib
from email import policy

import pytest
from sqlalchemy import func, select

from chat.mail.inbound import deliver
from chat.store import models
from tests.cli.test_mail_ingest import ingest
from tests.cli.test_mail_ingest import room as ingest_room  # noqa: F401 - the fixture, under its name
from tests.mail.inbound.support import Mailroom, mail

BOB = "bob@example.org"


async def _address(room: Mailroom, conversation: int, *, outside: bool = False) -> str:
    r = await room.api("POST", f"/conversations/{conversation}/mail-address", room.cast.alice)
    if outside:
        patch = {"outside_senders": True}
        await room.api("PATCH", f"/conversations/{conversation}/mail-address", room.cast.alice, json=patch)
    return str(r.json()["address"])


def _send_all(port: int, raw: bytes, to: list[str], sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.sendmail(sender, to, raw)


async def _guests(room: Mailroom) -> int:
    async with room.db.read() as s:
        return int(await s.scalar(select(func.count()).where(models.User.username.like("mail-%"))) or 0)


async def test_a_big_mail_is_read_off_the_event_loop(room: Mailroom) -> None:
    await room.verify(room.cast.bob, BOB)
    conversation = await room.channel(room.cast.alice, "support", room.cast.bob)
    address = await _address(room, conversation)
    body = ("On " + "x " * 50 + "wrote:\n") * 25000  # 2.6 MB of what reply stripping finds costly
    raw = mail(BOB, address, "big", "Short answer.\n\n" + body).as_bytes(policy=policy.SMTP)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:  # deliver() as the receiver calls it at the end of DATA, on this loop
        outcome = await deliver(room.db, room.settings, raw, BOB, [address])
    finally:
        done.set()
        await task
    assert outcome.status == "delivered"
    stored = await room.messages(conversation)
    assert stored[-1].body.startswith("Short answer.") and len(stored[-1].body) <= room.settings.max_message_chars
    # parsing and stripping ran in threads: the loop kept turning meanwhile (thousands of ticks); a
    # loop blocked by them ticks only at the database awaits (about 150 when they ran on the loop)
    assert ticks > 1000, ticks


async def test_a_big_mail_from_a_stranger_is_refused_before_its_body_is_read(room: Mailroom) -> None:
    conversation = await room.channel(room.cast.alice, "support", room.cast.bob)
    address = await _address(room, conversation)  # outside senders off
    body = ("On " + "x " * 50 + "wrote:\n") * 25000
    raw = mail("stranger@evil.example", address, "hi", body).as_bytes(policy=policy.SMTP)
    before = await room.snapshot()
    outcome = await deliver(room.db, room.settings, raw, "stranger@evil.example", [address])
    assert (outcome.status, outcome.kind) == ("refused", "address")
    assert await room.snapshot() == before


async def test_a_mail_to_two_salon_addresses_reaches_both_in_one_session(room: Mailroom) -> None:
    cast = room.cast
    await room.verify(cast.bob, BOB)
    first = await room.channel(cast.alice, "support", cast.bob)
    second = await room.channel(cast.alice, "sales", cast.bob)
    to = [await _address(room, first), await _address(room, second)]
    raw = mail(BOB, ", ".join(to), "Printer", "Jammed again.").as_bytes(policy=policy.SMTP)
    await asyncio.to_thread(_send_all, room.port, raw, to, BOB)
    await asyncio.to_thread(_send_all, room.port, raw, to, BOB)  # the same mail again: stored once each
    assert [m.body for m in await room.messages(first)] == ["Jammed again."]
    assert [m.body for m in await room.messages(second)] == ["Jammed again."]


async def test_mail_ingest_one_recipient_per_run_reaches_every_address(ingest_room: Mailroom) -> None:  # noqa: F811
    room = ingest_room
    cast = room.cast
    await room.verify(cast.bob, BOB)
    first = await room.channel(cast.alice, "support", cast.bob)
    second = await room.channel(cast.alice, "sales", cast.bob)
    to = [await _address(room, first), await _address(room, second)]
    raw = mail(BOB, ", ".join(to), "Printer", "Jammed again.").as_bytes(policy=policy.SMTP)
    for address in to:  # as Postfix's pipe runs it: one recipient per run, same Message-ID
        assert await ingest(room, raw, "--sender", BOB, "--recipient", address) == (0, "")
    assert await ingest(room, raw, "--sender", BOB, "--recipient", to[1]) == (0, "")  # re-delivered
    assert [m.body for m in await room.messages(first)] == ["Jammed again."]
    assert [m.body for m in await room.messages(second)] == ["Jammed again."]


async def test_a_mail_is_stored_for_all_its_recipients_or_none(tight_room: Mailroom) -> None:
    room = tight_room
    cast = room.cast
    await room.verify(cast.bob, BOB)
    mine = await room.channel(cast.alice, "support", cast.bob)
    closed = await room.channel(cast.alice, "board", kind="private")  # bob may not post there
    to = [await _address(room, mine), await _address(room, closed)]
    raw = mail(BOB, ", ".join(to), "Printer", "Jammed again.").as_bytes(policy=policy.SMTP)
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(_send_all, room.port, raw, to, BOB)
    assert refused.value.smtp_code == 550 and b"you may not post" in refused.value.smtp_error
    assert await room.snapshot() == before

    r = await room.api("POST", f"/conversations/{closed}/members", cast.alice, json={"user_id": cast.bob.id})
    assert r.status_code in (200, 201), r.text
    await asyncio.to_thread(_send_all, room.port, raw, to, BOB)  # the retry: both, not dropped
    assert [m.body for m in await room.messages(mine)] == ["Jammed again."]
    assert [m.body for m in await room.messages(closed)] == ["Jammed again."]

    # a full conversation (4 per window) defers the whole mail, the other recipient included
    full = await room.channel(cast.alice, "busy", cast.bob, cast.carol)
    busy = await _address(room, full, outside=True)
    for i in range(4):
        await room.send(mail(f"c{i}@client.example", busy, f"n{i}", f"mail {i}"), busy, f"c{i}@client.example")
    again = mail(BOB, f"{to[0]}, {busy}", "More", "Still jammed.").as_bytes(policy=policy.SMTP)
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as deferred:
        await asyncio.to_thread(_send_all, room.port, again, [to[0], busy], BOB)
    assert deferred.value.smtp_code == 450 and b"this conversation" in deferred.value.smtp_error
    assert await room.snapshot() == before


async def test_a_chosen_message_id_does_not_escape_the_limits(tight_room: Mailroom) -> None:
    room = tight_room
    await room.verify(room.cast.bob, BOB)
    conversation = await room.channel(room.cast.alice, "support", room.cast.bob)
    address = await _address(room, conversation)
    codes = []
    for i in range(6):  # 3 per sender; Message-IDs that look like Salon's notifications
        one = mail(BOB, address, f"n{i}", f"mail {i}")
        del one["Message-ID"]
        one["Message-ID"] = f"<n.{i}@evil.example>" if i % 2 else f"<n.{i}.abc@evil.example>"
        try:
            await room.send(one, address, BOB)
            codes.append(250)
        except smtplib.SMTPDataError as exc:
            codes.append(exc.smtp_code)
    assert codes == [250, 250, 250, 450, 450, 450]
    assert len(await room.messages(conversation)) == 3


async def test_new_outside_senders_are_bounded_by_the_conversation_limit(tight_room: Mailroom) -> None:
    room = tight_room
    conversation = await room.channel(room.cast.alice, "helpdesk", room.cast.bob)
    address = await _address(room, conversation, outside=True)
    guests = await _guests(room)
    codes = []
    for i in range(7):  # a new From each time: each would be a new guest account
        sender = f"spam{i}@client{i}.example"
        one = mail(sender, address, f"offer {i}", "cheap", dmarc=False)
        one.replace_header("Message-ID", f"<n.{i}@client.example>")
        try:
            await room.send(one, address, sender)
            codes.append(250)
        except smtplib.SMTPDataError as exc:
            codes.append(exc.smtp_code)
    assert codes == [250, 250, 250, 250, 450, 450, 450]  # 4 per conversation and window
    assert await _guests(room) == guests + 4
    assert len(await room.messages(conversation)) == 4

"""Bad input and abuse, through the real receiver: automatic mail dropped, malformed, huge and
deeply nested mail refused, mail bombs rate limited; in every case nothing is stored."""

from __future__ import annotations

import asyncio
import smtplib
from email import policy

import pytest

from chat.mail.addresses import notification_message_id
from tests.mail.inbound.support import DOMAIN, Mailroom, authentication_results, mail

BOB = "bob@example.org"
AUTH = f"Authentication-Results: {authentication_results(BOB)}\r\n"  # the trusted MX's DMARC pass


async def _channel(room: Mailroom, *, outside: bool = False) -> tuple[int, str]:
    await room.verify(room.cast.bob, BOB)
    conversation = await room.channel(room.cast.alice, "support", room.cast.bob)
    r = await room.api("POST", f"/conversations/{conversation}/mail-address", room.cast.alice)
    if outside:
        await room.api(
            "PATCH", f"/conversations/{conversation}/mail-address", room.cast.alice, json={"outside_senders": True}
        )
    return conversation, str(r.json()["address"])


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated; owner-email=x@y.z"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "list"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "Out of office"},
        {"List_Id": "<announce.example.org>"},
    ],
    ids=lambda h: next(iter(h.values())),
)
async def test_auto_replies_and_lists_are_accepted_but_dropped(room: Mailroom, headers: dict[str, str]) -> None:
    _, address = await _channel(room)
    before = await room.snapshot()
    await room.send(mail(BOB, address, "Out of office", "I am away until Monday.", **headers), address, BOB)
    assert await room.snapshot() == before


async def test_bounces_mail_systems_and_our_own_message_ids_are_dropped(room: Mailroom) -> None:
    conversation, address = await _channel(room)
    before = await room.snapshot()
    await room.send(mail(BOB, address, "Undelivered", "bounce"), address, "")  # MAIL FROM:<>
    await room.send(
        mail("MAILER-DAEMON@mx.example.org", address, "Failure", "x"), address, "mailer-daemon@mx.example.org"
    )
    await room.send(mail("postmaster@example.org", address, "Notice", "x"), address, "postmaster@example.org")
    loop = mail(BOB, address, "Re: [#support] hello", "looping")
    del loop["Message-ID"]
    loop["Message-ID"] = notification_message_id(42, DOMAIN)
    await room.send(loop, address, BOB)
    assert await room.snapshot() == before
    await room.send(mail(BOB, address, "Auto-Submitted: no is a person", "hello", Auto_Submitted="no"), address, BOB)
    assert [m.body for m in await room.messages(conversation)] == ["hello"]


async def _refused(room: Mailroom, raw: bytes, address: str) -> smtplib.SMTPDataError:
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await room.send(raw, address, BOB)
    assert await room.snapshot() == before
    return refused.value


def _nested(levels: int) -> bytes:
    head = f"{AUTH}From: {BOB}\r\nSubject: deep\r\nMessage-ID: <deep{levels}@example.org>\r\nMIME-Version: 1.0\r\n"
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(levels))
    closing = "".join(f"\r\n--b{i}--" for i in reversed(range(levels)))
    return (head + opening + "Content-Type: text/plain\r\n\r\nhidden" + closing + "\r\n").encode()


async def test_malformed_and_deeply_nested_mime_is_refused(room: Mailroom) -> None:
    _, address = await _channel(room)
    no_boundary = f"{AUTH}From: {BOB}\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nb\r\n"
    assert b"malformed" in (await _refused(room, no_boundary.encode(), address)).smtp_error
    assert (await _refused(room, _nested(200), address)).smtp_code == 550
    assert b"levels deep" in (await _refused(room, _nested(12), address)).smtp_error
    many = mail(BOB, address, "many parts", "hello")
    for i in range(120):
        many.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    assert b"MIME parts" in (await _refused(room, many.as_bytes(policy=policy.SMTP), address)).smtp_error
    header_bomb = f"{AUTH}From: {BOB}\r\nSubject: x\r\n" + "X-Filler: y\r\n" * 500 + "\r\nbody\r\n"
    assert b"header fields" in (await _refused(room, header_bomb.encode(), address)).smtp_error
    assert b"header block" in (await _refused(room, b"no headers at all\r\n\r\nbody\r\n", address)).smtp_error


async def test_a_mail_over_the_size_limit_is_refused_with_552(tight_room: Mailroom) -> None:
    _, address = await _channel(tight_room)
    huge = mail(BOB, address, "huge", "a" * 250_000).as_bytes(policy=policy.SMTP)
    before = await tight_room.snapshot()
    with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # SIZE declared at MAIL FROM
        await tight_room.send(huge, address, BOB)
    assert declared.value.smtp_code == 552

    def undeclared() -> tuple[int, bytes]:  # no SIZE: cut off while DATA arrives
        with smtplib.SMTP("127.0.0.1", tight_room.port, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail(BOB)
            smtp.rcpt(address)
            return smtp.data(huge)

    code, _ = await asyncio.to_thread(undeclared)
    assert code == 552
    assert await tight_room.snapshot() == before


async def test_a_bad_charset_is_read_with_replacement_characters(room: Mailroom) -> None:
    conversation, address = await _channel(room)
    raw = (
        f"{AUTH}From: {BOB}\r\nTo: {address}\r\nSubject: =?x-unknown?q?caf=E9?=\r\nMessage-ID: <cs@example.org>\r\n"
        "Content-Type: text/plain; charset=x-no-such-charset\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + b"caf\xe9 \xff ok\r\n"
    await room.send(raw, address, BOB)
    stored = await room.messages(conversation)
    assert [m.body for m in stored] == ["caf\ufffd \ufffd ok"]


async def test_a_mail_bomb_is_limited_per_sender_and_per_conversation(tight_room: Mailroom) -> None:
    conversation, address = await _channel(tight_room, outside=True)
    for i in range(3):
        await tight_room.send(mail(BOB, address, f"n{i}", f"mail {i}"), address, BOB)
    before = await tight_room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as limited:
        await tight_room.send(mail(BOB, address, "n3", "one too many"), address, BOB)
    assert limited.value.smtp_code == 450
    assert await tight_room.snapshot() == before
    await tight_room.send(mail("x@client.example", address, "other", "from someone else"), address, "x@client.example")
    with pytest.raises(smtplib.SMTPDataError) as channel_full:
        await tight_room.send(mail("y@client.example", address, "third", "channel full"), address, "y@client.example")
    assert channel_full.value.smtp_code == 450 and b"this conversation" in channel_full.value.smtp_error
    assert len(await tight_room.messages(conversation)) == 4


async def test_refused_mail_counts_against_its_sender_too(tight_room: Mailroom) -> None:
    _, address = await _channel(tight_room)  # outside senders off: a stranger's mail is refused
    stranger = "spammer@example.net"
    codes = []
    for i in range(5):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await tight_room.send(mail(stranger, address, f"buy {i}", "cheap"), address, stranger)
        codes.append(refused.value.smtp_code)
    assert codes == [550, 550, 550, 450, 450]

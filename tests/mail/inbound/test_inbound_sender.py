"""Who a mail is from: only the trusted MX's DMARC pass for the From domain names a user
(``CHAT_MAIL_TRUSTED_AUTHSERV_ID``); a forged From or envelope sender never posts as them."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from chat.config import Settings, SettingsError
from chat.mail.parse import dmarc_pass
from chat.mail.targets import EXTERNAL_MARK
from chat.store import models
from tests.mail.inbound.support import MX, Mailroom, authentication_results, mail, mail_settings, running

BOB = "bob@example.org"
ATTACKER = "attacker@evil.example"


async def _channel(room: Mailroom, *, outside: bool = False) -> tuple[int, str]:
    await room.verify(room.cast.bob, BOB)
    conversation = await room.channel(room.cast.alice, "support", room.cast.bob)
    r = await room.api("POST", f"/conversations/{conversation}/mail-address", room.cast.alice)
    if outside:
        patch = {"outside_senders": True}
        await room.api("PATCH", f"/conversations/{conversation}/mail-address", room.cast.alice, json=patch)
    return conversation, str(r.json()["address"])


def _forged(to: str, results: str | None) -> EmailMessage:
    forged = mail(f"Bob <{BOB}>", to, "Payroll", "Please wire the money to the new account.", dmarc=False)
    if results is not None:
        forged["Authentication-Results"] = results
    return forged


FORGERIES = {
    "no results": None,
    "another authserv-id": authentication_results(BOB, authserv_id="mx.evil.example"),
    "dmarc fail": authentication_results(BOB, result="fail"),
    "dmarc pass for the attacker's domain": f"{MX}; dmarc=pass header.from=evil.example",
}


@pytest.mark.parametrize("results", FORGERIES.values(), ids=FORGERIES.keys())
async def test_a_forged_from_is_refused_as_unverified(room: Mailroom, results: str | None) -> None:
    _, address = await _channel(room)
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await room.send(_forged(address, results), address, ATTACKER)
    assert refused.value.smtp_code == 550 and b"could not be verified" in refused.value.smtp_error
    assert await room.snapshot() == before


async def test_the_envelope_sender_alone_names_nobody(room: Mailroom) -> None:
    _, address = await _channel(room)
    stranger = mail("someone@evil.example", address, "Hi", "It is me, Bob.")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await room.send(stranger, address, BOB)  # MAIL FROM:<bob@example.org>, From someone else
    assert refused.value.smtp_code == 550


async def test_an_unverified_sender_posts_as_an_external_guest_where_outside_senders_are_on(room: Mailroom) -> None:
    conversation, address = await _channel(room, outside=True)
    await room.send(_forged(address, None), address, ATTACKER)
    await room.send(mail(f"Bob <{BOB}>", address, "Printer", "Jammed again."), address, BOB)  # DMARC passed
    first, second = await room.messages(conversation)
    async with room.db.read() as s:
        guest = await s.get(models.User, first.author_id)
    assert guest is not None and guest.id != room.cast.bob.id
    assert guest.preferences == {EXTERNAL_MARK: BOB} and guest.role == "guest"  # shown as external
    assert second.author_id == room.cast.bob.id


async def test_a_reply_needs_the_users_from_and_the_dmarc_pass(room: Mailroom) -> None:
    cast = room.cast
    conversation, _ = await _channel(room)
    message = await room.post(cast.alice, conversation, "Q3", "Numbers?")
    to = await room.reply_to(cast.bob, message)
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as no_dmarc:
        await room.send(_forged(to, None), to, ATTACKER)
    assert no_dmarc.value.smtp_code == 550 and b"could not be verified" in no_dmarc.value.smtp_error
    with pytest.raises(smtplib.SMTPDataError) as other_from:
        await room.send(mail("eve@example.net", to, "Re: Q3", "Forty-two."), to, BOB)  # envelope Bob's
    assert b"another account" in other_from.value.smtp_error
    assert await room.snapshot() == before
    await room.send(mail(f"Bob <{BOB}>", to, "Re: Q3", "Forty-two."), to, BOB)
    assert [(m.author_id, m.body) for m in await room.messages(conversation)][-1] == (cast.bob.id, "Forty-two.")


async def test_without_a_trusted_mx_channel_mail_names_nobody_and_replies_need_the_from(
    database_url: str, tmp_path: Path
) -> None:
    async with running(mail_settings(database_url, tmp_path, mail_trusted_authserv_id="")) as room:
        conversation, address = await _channel(room)
        with pytest.raises(smtplib.SMTPDataError) as refused:  # even with a DMARC pass nobody vouches for
            await room.send(mail(BOB, address, "Printer", "Jammed again."), address, BOB)
        assert b"could not be verified" in refused.value.smtp_error
        message = await room.post(room.cast.alice, conversation, "Q3", "Numbers?")
        to = await room.reply_to(room.cast.bob, message)
        await room.send(mail(BOB, to, "Re: Q3", "Forty-two.", dmarc=False), to, BOB)
        assert (await room.messages(conversation))[-1].author_id == room.cast.bob.id


def test_dmarc_pass_reads_only_the_trusted_results() -> None:
    trusted = "mx.example.com"
    assert dmarc_pass((f"{trusted}; dmarc=pass (p=reject dis=none) header.from=Example.org",), trusted, BOB)
    assert dmarc_pass((f"{trusted} 1; spf=fail; dmarc = pass header.from=example.org",), trusted, BOB)
    assert not dmarc_pass((f"{trusted}; dmarc=pass header.from=example.org.evil",), trusted, BOB)
    assert not dmarc_pass(("mx.example.com.evil; dmarc=pass header.from=example.org",), trusted, BOB)
    assert not dmarc_pass((f"{trusted}; dmarc=none header.from=example.org",), trusted, BOB)
    assert not dmarc_pass((f"{trusted}; dkim=pass (dmarc=pass header.from=example.org) header.d=x",), trusted, BOB)
    assert not dmarc_pass((f"{trusted}; dmarc=pass header.from=example.org",), "", BOB)


@pytest.mark.parametrize("value", ["mx example.com", "mx;example", "x" * 254])
def test_the_trusted_authserv_id_is_validated(value: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        Settings(data_dir=tmp_path, mail_trusted_authserv_id=value)

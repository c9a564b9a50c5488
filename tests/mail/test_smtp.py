"""The Mailer against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import pytest

from chat.config import Settings, SettingsError
from chat.mail.smtp import Mailer, MailError, Relay
from tests.integration.server import free_port
from tests.mail.smtpd import SmtpSink


def test_relay_urls() -> None:
    assert Relay.from_url("smtp://relay.internal") == Relay("relay.internal", 25, None, None, False, False)
    assert Relay.from_url("smtps://u%40x:p%3Aw@mail.example.com") == Relay(
        "mail.example.com", 465, "u@x", "p:w", True, False
    )
    assert Relay.from_url("smtp+starttls://mail.example.com:2587").start_tls
    with pytest.raises(SettingsError, match="smtp_url"):
        Settings(smtp_url="http://mail.example.com")


async def test_a_mail_reaches_the_relay_as_text_and_html() -> None:
    with SmtpSink() as sink:
        mailer = Mailer(Settings(smtp_url=sink.url, mail_domain="chat.example.com"))
        message = mailer.new_message("ana@example.com", "Réunion à 10 h")
        message.set_content("See you there.")
        message.add_alternative("<p>See you there.</p>", subtype="html")
        await mailer.send(message)
        [got] = await sink.wait_for(1)
    assert got.mail_from == "salon@chat.example.com" and got.rcpt_tos == ["ana@example.com"]
    assert got.message["Subject"] == "Réunion à 10 h"
    assert got.message["Message-ID"].endswith("@chat.example.com>")
    assert got.message["Auto-Submitted"] == "auto-generated"
    assert got.text.strip() == "See you there." and got.html.strip() == "<p>See you there.</p>"


async def test_an_unreachable_relay_is_a_mail_error() -> None:
    mailer = Mailer(Settings(smtp_url=f"smtp://127.0.0.1:{free_port()}"))
    message = mailer.new_message("ana@example.com", "hello")
    message.set_content("x")
    with pytest.raises(MailError):
        await mailer.send(message)
    assert not Mailer(Settings()).enabled
    with pytest.raises(MailError, match="CHAT_SMTP_URL"):
        await Mailer(Settings()).send(message)

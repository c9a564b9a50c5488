"""The "Mail address" dialog in a real browser: the admin makes the address, copies it, lets outside
senders in; a real SMTP mail to it shows up in the page; a member sees the address but no controls;
regenerating and revoking change what everyone sees."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import OpenAs
from tests.e2e.helpers import create_channel, message
from tests.e2e.server import Server, free_port

pytestmark = pytest.mark.browser

DOMAIN = "chat.example.test"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def server(tmp_path: Path, smtp_port: int) -> Iterator[Server]:
    srv = Server(tmp_path / "data", env={"CHAT_MAIL_DOMAIN": DOMAIN, "CHAT_SMTP_LISTEN": f"127.0.0.1:{smtp_port}"})
    srv.start()
    yield srv
    srv.stop()


def open_dialog(page: Page) -> None:
    page.locator("#conv-header button[data-action=mail-address]").click()
    expect(page.locator("#dlg-mailaddr")).to_be_visible()


def test_an_admin_makes_the_address_and_mail_to_it_arrives(open_as: OpenAs, smtp_port: int) -> None:
    alice = open_as("alice")  # the first account: an admin
    cid = create_channel(alice, "intake")
    open_dialog(alice)
    dialog = alice.locator("#dlg-mailaddr")
    expect(dialog.locator("#mailaddr-none")).to_be_visible()
    dialog.locator("button[data-action=regenerate]").click()
    field = dialog.locator("#mailaddr-address")
    expect(field).to_be_visible()
    address = field.input_value()
    assert address.startswith("c.") and address.endswith("@" + DOMAIN)
    dialog.locator("#mailaddr-outside").check()
    expect(dialog.locator("#mailaddr-outside")).to_be_checked()

    mail = EmailMessage()
    mail["From"] = "Client <client@example.net>"
    mail["To"] = address
    mail["Subject"] = "Fwd: Invoice 17"
    mail["Message-ID"] = "<e2e-1@example.net>"
    mail.set_content("The invoice is wrong.\n\nOn Monday, Bob wrote:\n> old text\n")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        smtp.sendmail("client@example.net", [address], mail.as_bytes(policy=policy.SMTP))
    alice.keyboard.press("Escape")
    expect(message(alice, "The invoice is wrong.")).to_be_visible()
    expect(alice.locator("#messages .msg", has_text="old text")).to_have_count(0)

    bob = open_as("bob", hash=f"#/c/{cid}")
    bob.locator("#conv-header button[data-action=join]").click()
    open_dialog(bob)
    expect(bob.locator("#mailaddr-address")).to_have_value(address)
    expect(bob.locator("#dlg-mailaddr button[data-action=regenerate]")).to_have_count(0)
    expect(bob.locator("#mailaddr-outside")).to_have_count(0)

    open_dialog(alice)
    alice.once("dialog", lambda d: d.accept())
    dialog.locator("button[data-action=regenerate]").click()
    expect(field).not_to_have_value(address)
    dialog.locator("button[data-action=revoke]").click()
    expect(dialog.locator("#mailaddr-none")).to_be_visible()
    assert alice.errors == [] and bob.errors == []  # type: ignore[attr-defined]


def test_the_dialog_speaks_french(open_as: OpenAs) -> None:
    page = open_as("alice", locale="fr-FR")
    create_channel(page, "accueil")
    expect(page.locator("#conv-header button[data-action=mail-address]")).to_have_text("Adresse mail")

"""Proving an e-mail address in the browser: settings → the mail (a real SMTP server) → its link → Confirm."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import NEEDS_BROWSER, new_context
from tests.e2e.server import Server, password_of
from tests.mail.smtpd import Received, SmtpSink

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]

LINK = re.compile(r"http://127\.0\.0\.1:\d+/confirm-email\?token=[A-Za-z0-9_-]+")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        yield smtp


@pytest.fixture
def mail_server(tmp_path: Path, sink: SmtpSink) -> Iterator[Server]:
    srv = Server(tmp_path / "data", env={"CHAT_SMTP_URL": sink.url})
    srv.start()
    yield srv
    srv.stop()


def mail_to(sink: SmtpSink, address: str, within_s: float = 30.0) -> Received:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        got = sink.to(address)
        if got:
            return got[-1]
        time.sleep(0.05)
    raise AssertionError(f"no mail to {address} within {within_s}s")


def link_in(mail: Received) -> str:
    found = LINK.search(mail.text)
    assert found is not None, mail.text
    assert found.group(0) in mail.html
    return found.group(0)


def signed_in(browser: Browser, server: Server, contexts: list[BrowserContext], username: str) -> Page:
    ctx = new_context(browser, server, contexts)
    response = ctx.request.post("/api/v1/session", data={"username": username, "password": password_of(username)})
    assert response.ok, response.text()
    return ctx.new_page()


def test_an_address_set_in_settings_is_verified_through_the_mailed_link(
    browser: Browser, mail_server: Server, sink: SmtpSink, contexts: list[BrowserContext]
) -> None:
    mail_server.register("founder")
    mail_server.register("bob")
    page = signed_in(browser, mail_server, contexts, "bob")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/settings")
    section = page.locator("#email-section")
    expect(section).to_have_attribute("data-state", "none")
    page.fill("#email-address", "bob@example.com")
    page.click("#email-form button[type=submit]")
    expect(page.locator("#email-note")).to_have_text("We mailed a confirmation link to bob@example.com.")
    expect(section).to_have_attribute("data-state", "pending")
    expect(page.locator("#email-pending-text")).to_have_text("bob@example.com: waiting for confirmation.")

    link = link_in(mail_to(sink, "bob@example.com"))
    other = new_context(browser, mail_server, contexts).new_page()  # the mail opened in another browser
    other.goto(link)
    expect(other.locator("#confirm-address")).to_have_text("bob@example.com")
    expect(section).to_have_attribute("data-state", "pending")  # opening the page confirmed nothing
    other.click("#confirm-button")
    expect(other.locator("#confirm-email")).to_have_attribute("data-state", "done")
    expect(other.locator("#confirm-email .form-ok")).to_have_text("bob@example.com is confirmed.")

    page.reload()
    expect(section).to_have_attribute("data-state", "verified")
    expect(page.locator("#email-status")).to_have_text("bob@example.com (verified)")
    other.goto(link)  # a link works once
    expect(other.locator("#confirm-email [data-code]")).to_have_attribute("data-code", "confirmation_not_found")
    assert errors == []


def test_registration_by_domain_waits_for_the_confirmation(
    browser: Browser, mail_server: Server, sink: SmtpSink, contexts: list[BrowserContext]
) -> None:
    mail_server.register("founder")
    admin = signed_in(browser, mail_server, contexts, "founder")
    answer = admin.request.patch(
        "/api/v1/settings", data={"registration_mode": "domains", "allowed_domains": ["example.com"]}
    )
    assert answer.ok, answer.text()

    page = new_context(browser, mail_server, contexts).new_page()
    page.goto("/register")
    page.fill("#username", "dana")
    page.fill("#password", password_of("dana"))
    page.fill("#email", "dana@example.com")
    page.click("#auth-form button[type=submit]")
    expect(page.locator("#email-sent-text")).to_contain_text("We mailed a confirmation link to dana@example.com.")
    expect(page.locator("#email-sent-next")).to_have_attribute("href", "/login")

    page.goto("/login")
    page.fill("#username", "dana")
    page.fill("#password", password_of("dana"))
    page.click("button[type=submit]")
    expect(page.locator("#form-error")).to_contain_text("Confirm your e-mail address first")

    page.goto(link_in(mail_to(sink, "dana@example.com")))
    page.click("#confirm-button")
    expect(page.locator("#confirm-email")).to_have_attribute("data-state", "done")
    page.goto("/login")
    page.fill("#username", "dana")
    page.fill("#password", password_of("dana"))
    page.click("button[type=submit]")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")

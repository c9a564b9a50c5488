"""The unsubscribe link of a mail, opened in Chromium without being signed in: a page, a button, done."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from chat.accounts.notification_prefs import load
from chat.mail.unsubscribe import KEY_NAME, make_token
from tests.e2e.conftest import NEEDS_BROWSER, new_context
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def _db(server: Server) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "salon.db")


def _email_missed(server: Server, user_id: int) -> bool:
    with _db(server) as conn:
        (stored,) = conn.execute("SELECT notification_settings FROM users WHERE id = ?", (user_id,)).fetchone()
    return load(json.loads(stored) if stored else None).email_missed


def test_the_button_unsubscribes_and_a_get_alone_does_not(
    browser: Browser, server: Server, contexts: list[BrowserContext]
) -> None:
    bob = server.register("bob")
    with pytest.raises(urllib.error.HTTPError) as refused:  # makes the server's key on first use
        urllib.request.urlopen(f"{server.base}/unsubscribe?token=nope", timeout=10)  # noqa: S310 - our test server
    assert refused.value.code == 400
    with _db(server) as conn:
        (key,) = conn.execute("SELECT value FROM server_secrets WHERE name = ?", (KEY_NAME,)).fetchone()
    token = make_token(key.encode(), bob["id"], "missed")

    page = new_context(browser, server, contexts).new_page()  # no session cookie
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"/unsubscribe?token={token}")
    button = page.get_by_role("button", name="Unsubscribe")
    expect(button).to_be_visible()
    expect(page.get_by_text("Stop the mails about messages you missed")).to_be_visible()
    assert _email_missed(server, bob["id"])  # opening the link changed nothing

    button.click()
    expect(page.locator("[data-state=done]")).to_contain_text("no more mail about missed messages")
    assert not _email_missed(server, bob["id"])
    assert problems == []  # CSP-clean: nothing refused, no script error

    forged = token[:-1] + ("1" if token.endswith("0") else "0")
    page.goto(f"/unsubscribe?token={forged}")
    expect(page.locator("[data-code=bad_unsubscribe_token]")).to_be_visible()

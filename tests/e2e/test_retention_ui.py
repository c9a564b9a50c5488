"""Retention and personal data in a real browser: a legal hold placed from the keyboard, a person's
data downloaded from the settings page, and an erased person's words disappearing from an open page."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import create_channel, expect_once, message, post
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def test_an_admin_places_a_legal_hold_with_the_keyboard(open_as: OpenAs, server: Server) -> None:
    page = open_as("alice")
    deals = create_channel(page, "deals")
    page.goto("/admin/retention")
    expect(page.locator("h1")).to_have_text("Retention and legal hold")
    page.locator(f"#days-{deals}").focus()
    page.keyboard.type("30")
    page.keyboard.press("Tab")  # the legal hold checkbox
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # Save
    page.keyboard.press("Enter")
    row = page.locator(f"#conversation-{deals}")
    expect(row).to_contain_text("On legal hold")
    expect(row).to_contain_text("30 days")
    expect(page.locator(".admin-status.form-ok")).to_have_text("Done.")
    overview = page.request.get("/api/v1/retention").json()
    (entry,) = [c for c in overview["conversations"] if c["id"] == deals]
    assert (entry["days"], entry["legal_hold"]) == (30, True)


def test_a_person_downloads_their_data_from_the_settings_page(open_as: OpenAs, server: Server) -> None:
    server.register("alice")
    page = open_as("bob")
    create_channel(page, "bob's room")
    post(page, "a note to myself", topic="notes")
    expect_once(page, "a note to myself")
    page.goto("/settings")
    link = page.locator("#export-data")
    expect(link).to_have_text("Download my data")
    link.focus()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    path = download.value.path()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
        profile = json.loads(zf.read("profile.json"))
        messages = json.loads(zf.read("messages.json"))
    assert profile["username"] == "bob"
    assert [m["body"] for m in messages] == ["a note to myself"]


def test_an_erased_person_s_words_leave_an_open_page(open_as: OpenAs, server: Server) -> None:
    alice = open_as("alice")
    general = create_channel(alice, "general")
    bob = open_as("bob")
    bob_id = bob.evaluate("() => window.salon.store.me.id")
    assert alice.request.post(f"/api/v1/conversations/{general}/members", data={"user_id": bob_id}).ok
    bob.goto(f"/#/c/{general}")
    post(bob, "my personal story", topic="intro")
    expect_once(alice, "my personal story")
    erased = alice.request.post(f"/api/v1/users/{bob_id}/erase")
    assert erased.ok, erased.text()
    expect(message(alice, "The text of this message was erased.")).to_have_count(1)
    expect(alice.locator("#messages", has_text="my personal story")).to_have_count(0)

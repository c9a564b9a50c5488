"""Search, the keyboard, small screens, the dark theme and French."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs, new_context
from tests.e2e.helpers import create_channel, me, message, post, sidebar_item
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def test_search_groups_results_and_opens_the_message_in_context(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "sales")
    post(alice, "the needle is in this haystack", topic="haystack")
    post(alice, "unrelated chatter", topic="other")
    create_channel(alice, "support")
    post(alice, "another needle, for support", topic="tickets")
    expect(message(alice, "another needle")).to_be_visible()

    alice.fill("#search-input", "needle")
    alice.press("#search-input", "Enter")
    groups = alice.locator("#search-list .result-group")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).locator("h3")).to_contain_text("support")
    expect(groups.nth(1).locator("h3")).to_contain_text("haystack")
    expect(alice.locator("#search-list mark").first).to_have_text("needle")

    groups.nth(1).locator(".result-item a.msg-head").click()
    expect(alice.locator("#conv-header h1")).to_contain_text("sales")
    expect(alice.locator("#messages-heading .topic-name")).to_have_text("haystack")
    target = message(alice, "the needle is in this haystack")
    expect(target).to_be_focused()
    expect(target).to_be_in_viewport()

    # Operators work from the same box.
    alice.fill("#search-input", "in:support from:alice")
    alice.press("#search-input", "Enter")
    expect(alice.locator("#search-list .result-item")).to_have_count(1)
    alice.keyboard.press("Escape")  # back to the conversation
    expect(alice.locator("#search-results")).to_be_hidden()


def test_keyboard_quick_switcher_and_focus(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "engineering")
    create_channel(alice, "marketing")
    alice.locator("body").click()
    alice.keyboard.press("Control+k")
    expect(alice.locator("#dlg-switcher")).to_be_visible()
    expect(alice.locator("#switcher-input")).to_be_focused()
    alice.keyboard.type("engin")
    expect(alice.locator("#switcher-list li")).to_have_count(1)
    alice.keyboard.press("Enter")
    expect(alice.locator("#conv-header h1")).to_contain_text("engineering")
    expect(alice.locator("#dlg-switcher")).to_be_hidden()
    alice.keyboard.press("Control+k")
    alice.keyboard.press("Escape")
    expect(alice.locator("#dlg-switcher")).to_be_hidden()
    # Tab reaches the controls and the focused one is visibly outlined.
    alice.locator("body").click()
    alice.keyboard.press("Tab")
    alice.keyboard.press("Tab")
    outline = alice.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_a_360_pixel_phone(open_as: OpenAs) -> None:
    alice = open_as("alice", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    bob = open_as("bob")
    create_channel(bob, "phones")
    bob.click("#conv-header button[data-action=invite]")
    bob.locator("#invite-people label", has_text="Alice").locator("input").check()
    bob.click("#invite-form button[type=submit]")
    expect(bob.locator("#dlg-invite")).to_be_hidden()
    post(bob, "hello small screen", topic="mobile")

    expect(alice.locator("#sidebar")).not_to_be_in_viewport()
    alice.click("#nav-toggle")
    expect(alice.locator("#sidebar")).to_be_in_viewport()
    sidebar_item(alice, "phones").locator("a").click()
    expect(alice.locator("#sidebar")).not_to_be_in_viewport()  # closes on navigation
    expect(message(alice, "hello small screen")).to_be_visible()
    expect(alice.locator("#compose-body")).to_be_in_viewport()
    alice.click("#conv-header .topics-toggle")
    expect(alice.locator("#topics li.topic-item", has_text="mobile")).to_be_visible()
    width = alice.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways ({width}px)"
    post(alice, "answering from my phone", topic="mobile")
    expect(message(bob, "answering from my phone")).to_be_visible()


def test_dark_theme_and_french_follow_the_browser(
    browser: Browser, server: Server, contexts: list[BrowserContext], open_as: OpenAs
) -> None:
    light = open_as("alice")
    dark = open_as("bob", color_scheme="dark", locale="fr-FR")
    background = "() => getComputedStyle(document.body).backgroundColor"
    assert light.evaluate(background) != dark.evaluate(background)
    channels = "() => getComputedStyle(document.body).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)"
    luminance = sum(dark.evaluate(channels))
    assert luminance < 150, "the dark theme has a dark background"
    expect(dark.locator("#conn-status")).to_have_text("Connecté")
    expect(dark.locator("html")).to_have_attribute("lang", "fr")
    french = new_context(browser, server, contexts, locale="fr-FR").new_page()
    french.goto("/login")
    expect(french.locator("h2")).to_have_text("Connexion")


RECORD_NOTIFICATIONS = """
window.__notes = [];
window.__visibility = "visible";
Object.defineProperty(document, "visibilityState", { get: () => window.__visibility, configurable: true });
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push({ title, body: options.body }); }
  addEventListener() {}
  close() {}
};
"""


def test_notifications_for_mentions_and_direct_messages_when_hidden(open_as: OpenAs, server: Server) -> None:
    alice = open_as("alice")
    server.register("bob")
    bob_context = alice.context.browser.new_context(base_url=server.base)  # type: ignore[union-attr]
    try:
        bob_context.add_init_script(RECORD_NOTIFICATIONS)
        bob_context.request.post("/api/v1/session", data={"username": "bob", "password": "bob-e2e-password"})
        bob = bob_context.new_page()
        bob.goto("/")
        expect(bob.locator("#conn-status")).to_have_attribute("data-state", "online")
        channel = create_channel(alice, "general")
        joined = bob.context.request.post(f"/api/v1/conversations/{channel}/members", data={"user_id": me(bob)["id"]})
        assert joined.ok
        expect(sidebar_item(bob, "general")).to_be_visible()

        post(alice, "visible tab, no notification @**Bob**", topic="hello")
        expect(sidebar_item(bob, "general").locator(".badge")).to_have_text("1")
        bob.evaluate("() => { window.__visibility = 'hidden'; }")
        post(alice, "a message for everyone else", topic="hello")
        post(alice, "hey @bob, a question", topic="hello")
        expect(sidebar_item(bob, "general").locator(".badge")).to_have_text("3")
        alice.click("#open-new-dm")
        alice.locator("#dm-people label", has_text="Bob").locator("input").check()
        alice.click("#dm-form button[type=submit]")
        expect(alice.locator("#compose-topic-row")).to_be_hidden()
        post(alice, "a direct word")
        expect(bob.locator("#sidebar-lists [data-section=direct] .badge")).to_have_text("1")
        notes = bob.evaluate("() => window.__notes")
        assert [n["body"] for n in notes] == ["hey @bob, a question", "a direct word"], notes
        assert notes[0]["title"] == "Alice mentioned you in general"
        assert notes[1]["title"] == "Alice sent you a message"
    finally:
        bob_context.close()

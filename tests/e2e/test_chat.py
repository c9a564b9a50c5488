"""Two (and three) people in real browsers against a real server: channels, topics, live updates,
reactions, edits, deletes, private groups and direct messages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import create_channel, me, message, open_conversation, open_topic, post, sidebar_item
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def no_page_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], page.errors  # type: ignore[attr-defined]


def test_a_channel_conversation_between_two_people(open_as: OpenAs) -> None:
    alice = open_as("alice")
    bob = open_as("bob")

    create_channel(alice, "sales", description="Deals and tenders")
    post(alice, "Welcome to sales", topic="intro")

    # Bob finds the channel in the browser and previews it without joining.
    bob.click("#open-browser")
    row = bob.locator("#browser-list li", has_text="sales")
    expect(row).to_contain_text("Deals and tenders")
    row.locator("a").click()
    expect(message(bob, "Welcome to sales")).to_be_visible()
    expect(bob.locator("#compose-body")).to_be_disabled()
    expect(sidebar_item(bob, "sales")).to_have_count(0)
    # He leaves and joins again from the browser.
    bob.click("#conv-header button[data-action=join]")
    expect(sidebar_item(bob, "sales")).to_be_visible()
    expect(bob.locator("#compose-body")).to_be_enabled()
    bob.click("#open-browser")
    row.locator("button[data-action=leave]").click()
    expect(sidebar_item(bob, "sales")).to_have_count(0)
    row.locator("button[data-action=join]").click()
    expect(row.locator("button[data-action=leave]")).to_be_visible()
    bob.keyboard.press("Escape")
    expect(sidebar_item(bob, "sales")).to_be_visible()
    bob.click(".brand")  # away from the channel, so new messages stay unread

    # Alice posts in a topic; Bob's sidebar counts it, live.
    post(alice, "Kick-off on **Monday**", topic="Q3 tender")
    expect(message(alice, "Kick-off on Monday").locator("strong")).to_have_text("Monday")
    expect(sidebar_item(bob, "sales").locator(".badge")).to_have_text("1")

    open_conversation(bob, "sales")
    expect(bob.locator("#topics li.topic-item", has_text="Q3 tender")).to_be_visible()
    expect(message(bob, "Kick-off on Monday")).to_be_visible()
    expect(sidebar_item(bob, "sales").locator(".badge")).to_have_count(0)  # read once seen

    # Bob replies in the topic; Alice sees it without reloading.
    open_topic(bob, "Q3 tender")
    post(bob, "Count me in")
    expect(message(alice, "Count me in")).to_be_visible()

    # Alice reacts; Bob sees the reaction.
    reply = message(alice, "Count me in")
    reply.hover()
    reply.get_by_role("button", name="React").click()
    alice.click(".emoji-picker button[data-emoji='👍']")
    expect(message(bob, "Count me in").locator(".reaction")).to_have_text("👍 1")
    expect(reply.locator(".reaction")).to_have_attribute("aria-pressed", "true")

    # Bob edits his message; Alice sees the new text and that it was edited.
    mine = bob.locator("#" + str(message(bob, "Count me in").get_attribute("id")))
    mine.hover()
    mine.locator("button[data-action=edit]").click()
    mine.locator(".edit-box textarea").fill("Count me in, with Carol")
    post(alice, "interrupting while Bob edits")  # a re-render must not lose the edit in progress
    expect(message(bob, "interrupting while Bob edits")).to_be_visible()
    expect(mine.locator(".edit-box textarea")).to_have_value("Count me in, with Carol")
    expect(mine.locator(".edit-box textarea")).to_be_focused()
    mine.locator(".edit-box textarea").press("Enter")
    expect(message(alice, "Count me in, with Carol").locator(".msg-edited")).to_be_visible()

    # The edit history is viewable.
    message(alice, "Count me in, with Carol").locator(".msg-edited").click()
    expect(alice.locator("#history-list li")).to_have_count(2)
    alice.keyboard.press("Escape")

    # Bob deletes it; Alice sees the tombstone.
    bob.once("dialog", lambda dialog: dialog.accept())
    edited = message(bob, "Count me in, with Carol")
    edited.hover()
    edited.locator("button[data-action=delete]").click()
    expect(alice.locator("#messages .msg-deleted")).to_have_count(1)
    expect(message(alice, "Count me in")).to_have_count(0)
    no_page_errors(alice, bob)


def test_a_private_group_stays_invisible_to_others(open_as: OpenAs, server: Server) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    carol = open_as("carol")

    group = create_channel(alice, "board", private=True)
    alice.click("#conv-header button[data-action=invite]")
    alice.locator("#invite-people label", has_text="Bob").locator("input").check()
    alice.click("#invite-form button[type=submit]")
    expect(alice.locator("#dlg-invite")).to_be_hidden()
    expect(sidebar_item(bob, "board")).to_be_visible()  # live, in Bob's private groups
    expect(bob.locator("#sidebar-lists [data-section=private]")).to_contain_text("board")
    post(alice, "Confidential numbers", topic="budget")
    expect(sidebar_item(bob, "board").locator(".badge")).to_have_text("1")

    # Carol: not in her sidebar, not in the channel browser, and a direct link finds nothing.
    expect(sidebar_item(carol, "board")).to_have_count(0)
    carol.click("#open-browser")
    expect(carol.locator("#browser-list")).not_to_contain_text("board")
    carol.keyboard.press("Escape")
    carol.evaluate(f"() => {{ window.location.hash = '#/c/{group}'; }}")
    expect(carol.locator(".toast")).to_contain_text("does not exist")
    expect(carol.locator("#messages")).not_to_contain_text("Confidential")
    hidden = carol.context.request.get(f"/api/v1/conversations/{group}")
    missing = carol.context.request.get("/api/v1/conversations/999999")
    assert (hidden.status, hidden.json()) == (missing.status, missing.json()) == (404, missing.json())
    no_page_errors(alice, bob, carol)


def test_direct_messages_with_one_or_several_people(open_as: OpenAs) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    carol = open_as("carol")

    alice.click("#open-new-dm")
    alice.locator("#dm-people label", has_text="Bob").locator("input").check()
    alice.click("#dm-form button[type=submit]")
    expect(alice.locator("#compose-topic-row")).to_be_hidden()  # no topics in a DM
    post(alice, "psst, lunch?")
    dm = bob.locator("#sidebar-lists [data-section=direct] li.side-item", has_text="Alice")
    expect(dm.locator(".badge")).to_have_text("1")
    dm.locator("a").click()
    expect(message(bob, "psst, lunch?")).to_be_visible()
    post(bob, "sure")
    expect(message(alice, "sure")).to_be_visible()

    # A group DM with two people.
    alice.click("#open-new-dm")
    for name in ("Bob", "Carol"):
        alice.locator("#dm-people label", has_text=name).locator("input").check()
    alice.click("#dm-form button[type=submit]")
    expect(alice.locator("#conv-header h1")).to_contain_text("Bob, Carol")
    post(alice, "the three of us")
    group = carol.locator("#sidebar-lists [data-section=direct] li.side-item", has_text="Bob")
    expect(group).to_contain_text("Alice")
    group.locator("a").click()
    expect(message(carol, "the three of us")).to_be_visible()

    # Star and unstar: starred conversations come first.
    alice.click("#conv-header button[data-action=star]")
    expect(alice.locator("#sidebar-lists [data-section=starred]")).to_contain_text("Carol")
    alice.click("#conv-header button[data-action=star]")
    expect(alice.locator("#sidebar-lists [data-section=starred]")).to_have_count(0)
    assert me(alice)["username"] == "alice"
    no_page_errors(alice, bob, carol)

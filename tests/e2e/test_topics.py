"""Inside a channel: topics (resolve, rename, move, mute), older pages, the first unread, typing,
mentions and presence."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import create_channel, me, message, open_conversation, open_topic, post, sidebar_item
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def join(page_request_owner: object, channel: int) -> None:
    page = page_request_owner
    response = page.context.request.post(  # type: ignore[attr-defined]
        f"/api/v1/conversations/{channel}/members",
        data={"user_id": me(page)["id"]},  # type: ignore[arg-type]
    )
    assert response.ok, response.text()


def test_resolve_rename_move_and_mute_a_topic(open_as: OpenAs) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    sales = create_channel(alice, "sales")
    create_channel(alice, "archive-room")
    join(bob, sales)
    open_conversation(alice, "sales")
    post(alice, "first draft", topic="tender")
    open_conversation(bob, "sales")
    open_topic(bob, "tender")
    open_topic(alice, "tender")

    alice.click("#messages-heading button[data-action=resolve]")
    expect(bob.locator("#messages-heading .topic-name")).to_have_text("✔ tender")  # Bob follows the topic
    expect(bob.locator("#topics li.topic-item.resolved")).to_have_count(1)

    alice.click("#messages-heading button[data-action=rename]")
    alice.fill("#topic-new-name", "Q3 tender")
    alice.click("#topic-form button[type=submit]")
    expect(alice.locator("#messages-heading .topic-name")).to_have_text("Q3 tender")
    expect(bob.locator("#topics")).to_contain_text("Q3 tender")
    expect(message(bob, "first draft")).to_be_visible()

    # Bob mutes the topic: new messages there do not count as unread for him.
    bob.select_option("#messages-heading select[data-action=visibility]", "muted")
    expect(bob.locator("#topics li.topic-item.muted")).to_have_count(1)

    # Alice moves the topic to another channel she is in.
    alice.click("#messages-heading button[data-action=rename]")
    alice.select_option("#topic-move-to", label="# archive-room")
    alice.click("#topic-form button[type=submit]")
    expect(alice.locator("#conv-header h1")).to_contain_text("archive-room")
    expect(message(alice, "first draft")).to_be_visible()
    expect(bob.locator("#topics")).not_to_contain_text("Q3 tender")  # gone from sales for Bob


def test_older_pages_first_unread_typing_mentions_presence(open_as: OpenAs, server: Server) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    channel = create_channel(alice, "history")
    join(bob, channel)
    # 120 messages through the API (Bob is elsewhere), so the channel has several pages.
    for n in range(120):
        response = alice.context.request.post(
            f"/api/v1/conversations/{channel}/messages",
            data={"topic": "long", "body": f"message number {n}", "nonce": f"n{n}"},
        )
        assert response.status == 201
    expect(sidebar_item(bob, "history").locator(".badge")).to_have_text("99+")
    # the badge says 99+ from 100 on: wait for the exact count, which decides where the first unread is
    expect(sidebar_item(bob, "history").locator("a")).to_have_attribute("aria-label", re.compile(r"\b120 unread"))

    open_conversation(bob, "history")
    expect(message(bob, "message number 119")).to_be_visible()
    expect(message(bob, "message number 0")).to_have_count(0)  # only the newest page at first
    bob.click("#jump-unread")  # loads older pages until the first unread, and shows it
    expect(message(bob, "message number 0")).to_be_in_viewport()
    expect(bob.locator("#unread-marker")).to_be_attached()

    # Typing notices and an @mention with autocomplete.
    open_conversation(alice, "history")
    alice.fill("#compose-topic", "long")
    alice.locator("#compose-body").press_sequentially("hey @bo")
    expect(bob.locator("#typing")).to_have_text("Alice is typing…")
    expect(alice.locator("#mention-list li", has_text="@bob")).to_be_visible()
    alice.press("#compose-body", "Enter")  # picks the mention
    alice.press("#compose-body", "Enter")  # sends
    mention = message(bob, "hey @")
    expect(mention.locator(".msg-body")).to_contain_text("Bob")

    # Presence (sent to people who share a conversation): Bob sees Alice online.
    bob.reload()
    expect(bob.locator("#conn-status")).to_have_attribute("data-state", "online")
    bob.click("#open-new-dm")
    expect(bob.locator("#dm-people label", has_text="Alice").locator(".presence")).to_have_attribute(
        "data-presence", "active"
    )


def test_a_topic_moved_into_a_private_group_leaves_the_channel_and_its_mover_follows_it(open_as: OpenAs) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    sales = create_channel(alice, "deals")
    board = create_channel(alice, "board", private=True)  # Bob is not in it
    join(bob, sales)
    open_conversation(alice, "deals")
    post(alice, "the secret price", topic="pricing")
    post(alice, "an open question", topic="general")
    open_conversation(bob, "deals")
    open_topic(bob, "pricing")
    expect(message(bob, "the secret price")).to_be_visible()
    open_topic(alice, "pricing")

    moved = alice.context.request.patch(
        f"/api/v1/conversations/{sales}/topics", data={"topic": "pricing", "move_to_conversation": board}
    )
    assert moved.ok, moved.text()

    # Alice, in both, follows her topic into the group; Bob's view falls back to the channel, without
    # the moved message, and nothing names the group to him.
    expect(alice.locator("#conv-header h1")).to_contain_text("board")
    expect(message(alice, "the secret price")).to_be_visible()
    expect(bob.locator("#conv-header h1")).to_contain_text("deals")
    expect(message(bob, "an open question")).to_be_visible()
    expect(message(bob, "the secret price")).to_have_count(0)
    expect(bob.locator("#topics")).not_to_contain_text("pricing")
    expect(bob.locator("body")).not_to_contain_text("board")

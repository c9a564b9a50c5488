"""Small steps the browser tests share: create a channel, post, open a conversation."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect


def create_channel(page: Page, name: str, *, private: bool = False, description: str = "") -> int:
    """Create a channel or private group through the channel browser; returns its id (the page opens it)."""
    page.click("#open-browser")
    page.click("details.create-box summary")
    page.fill("#create-name", name)
    if description:
        page.fill("#create-description", description)
    page.check("#create-form input[value=private]" if private else "#create-form input[value=public]")
    page.click("#create-form button[type=submit]")
    expect(page.locator("#conv-header h1")).to_contain_text(name)
    match = re.search(r"#/c/(\d+)", page.url)
    assert match, page.url
    return int(match.group(1))


def sidebar_item(page: Page, name: str) -> Locator:
    return page.locator("#sidebar-lists li.side-item", has_text=name)


def post(page: Page, body: str, topic: str | None = None) -> None:
    if topic is not None:
        page.fill("#compose-topic", topic)
    page.fill("#compose-body", body)
    page.press("#compose-body", "Enter")


def message(page: Page, text: str) -> Locator:
    return page.locator("#messages .msg", has_text=text)


def expect_once(page: Page, text: str) -> None:
    """The message is shown exactly once (acked, not pending)."""
    expect(page.locator("#messages .msg[id^=msg-]", has_text=text)).to_have_count(1)
    expect(page.locator("#messages .msg.pending", has_text=text)).to_have_count(0)


def open_conversation(page: Page, name: str) -> None:
    sidebar_item(page, name).locator("a").click()
    expect(page.locator("#conv-header h1")).to_contain_text(name)


def open_topic(page: Page, topic: str) -> None:
    page.locator("#topics li.topic-item", has_text=topic).locator("a").click()
    expect(page.locator("#messages-heading .topic-name")).to_have_text(topic)


def me(page: Page) -> dict[str, object]:
    user: dict[str, object] = page.evaluate("() => window.salon.store.me")
    return user

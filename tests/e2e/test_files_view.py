"""The conversation's "Files" dialog in a real browser: opened from the header by keyboard, lists the file
with its uploader and topic, downloads and opens the message, closes with Escape."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import OpenAs
from tests.e2e.helpers import create_channel

pytestmark = pytest.mark.browser


def post_file(page: Page, cid: int, body: str) -> dict[str, Any]:
    """Upload tender-Q3.pdf and post it in topic Q3, over the page's own session; returns the upload."""
    uploaded = page.request.post(
        "/api/v1/uploads",
        multipart={"file": {"name": "tender-Q3.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 tender\n"}},
    )
    assert uploaded.status == 201, uploaded.text()
    upload: dict[str, Any] = uploaded.json()
    message = {"topic": "Q3", "body": body, "nonce": f"files-{body or 'none'}", "attachments": [upload["id"]]}
    posted = page.request.post(f"/api/v1/conversations/{cid}/messages", data=message)
    assert posted.status == 201, posted.text()
    return upload


def test_files_dialog_lists_a_conversation_files(open_as: OpenAs) -> None:
    page = open_as("bob")
    cid = create_channel(page, "docs")
    uploaded = post_file(page, cid, "the tender")

    button = page.locator("#conv-header button[data-action=files]")
    button.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#dlg-files")
    expect(dialog).to_be_visible()
    item = dialog.locator("#files-list li", has_text="tender-Q3.pdf")
    expect(item).to_contain_text("Bob")
    expect(item).to_contain_text("in Q3")
    link = item.locator("a.files-name")
    expect(link).to_have_attribute("href", uploaded["url"])
    expect(dialog.locator("#files-more")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    button.click()
    dialog.locator("#files-list a", has_text="Open the message").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#messages .msg", has_text="the tender")).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]


def test_search_finds_a_file_by_its_name(open_as: OpenAs) -> None:
    page = open_as("bob")
    cid = create_channel(page, "docs")
    post_file(page, cid, "")
    page.fill("#search-input", "tender")
    page.press("#search-input", "Enter")
    hit = page.locator("#search-list .result-item")
    expect(hit).to_have_count(1)
    expect(hit.locator(".attachments")).to_contain_text("tender-Q3.pdf")
    assert page.errors == []  # type: ignore[attr-defined]

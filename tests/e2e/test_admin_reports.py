"""A report handled end to end in real browsers (issue 11, point 8): a member reports a message from
the message menu, a moderator deletes it from /admin/reports with a reason, the member's open page
shows the tombstone with that reason, and the reporter gets the system DM."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import message, sidebar_item
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def call(page: Page, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """The API with the page's own session, as its scripts call it."""
    return page.evaluate(
        """async ([method, path, body]) => {
            const init = {method, credentials: "same-origin", headers: {"Content-Type": "application/json"}};
            if (body !== null) init.body = JSON.stringify(body);
            const response = await fetch("/api/v1" + path, init);
            const data = await response.json();
            if (!response.ok) throw new Error(JSON.stringify(data));
            return data;
        }""",
        [method, path, body],
    )


def test_a_moderator_deletes_a_reported_message(open_as: OpenAs, server: Server) -> None:
    alice = open_as("alice")  # the first account: the admin
    maya_id = server.register("maya")["id"]
    call(alice, "PATCH", f"/users/{maya_id}", {"role": "moderator"})
    general = call(alice, "POST", "/conversations", {"kind": "public", "name": "general"})["id"]
    bob = open_as("bob")
    carol = open_as("carol")
    for page in (bob, carol):
        call(page, "POST", f"/conversations/{general}/members", {"user_id": page.evaluate("window.salon.store.me.id")})
    said = {"body": "you are all idiots", "nonce": "r1", "topic": "Q3"}
    rude = call(bob, "POST", f"/conversations/{general}/messages", said)

    # Carol reports it from the message's menu, with the keyboard in the dialog.
    carol.goto(f"/#/c/{general}")
    shown = message(carol, "you are all idiots")
    expect(shown).to_be_visible()
    shown.hover()
    shown.locator("button[data-action=report]").click()
    expect(carol.locator("#dlg-report")).to_be_visible()
    expect(carol.locator("#report-quote")).to_have_text("you are all idiots")
    expect(carol.locator("#report-reason")).to_be_focused()
    carol.keyboard.type("insults the whole team")
    carol.keyboard.press("Tab")  # onto the send button
    expect(carol.locator("#report-form button[type=submit]")).to_be_focused()
    carol.keyboard.press("Enter")
    expect(carol.locator("#report-done")).to_contain_text("the moderators will look at it")
    expect(carol.locator("#report-done-close")).to_be_focused()
    carol.keyboard.press("Enter")
    expect(carol.locator("#dlg-report")).to_be_hidden()

    # Maya opens the queue, sees the five-message window's reported message, deletes it with a reason.
    maya = open_as("maya", register=False, hash="")
    maya.goto("/admin/reports")
    card = maya.locator(".report-card", has_text="insults the whole team")
    expect(card).to_be_visible()
    expect(card.locator(".report-context-item.reported")).to_contain_text("you are all idiots")
    expect(card.locator("form[data-action=deactivate]")).to_have_count(0)  # admins only
    delete = card.locator("form[data-action=delete]")
    delete.locator("input[name=note]").fill("Insults are not welcome here")
    delete.locator("button[type=submit]").click()
    expect(maya.locator(".admin-main")).to_contain_text("No open reports.")

    # Carol's open page shows the tombstone with the reason, live.
    tomb = carol.locator(f"#msg-{rude['id']} .msg-deleted")
    expect(tomb).to_have_text("This message was deleted. Reason: Insults are not welcome here")

    # And a direct message from the server's account tells her the outcome.
    salon = sidebar_item(carol, "Salon")
    expect(salon).to_be_visible()
    salon.locator("a").click()
    expect(message(carol, "deleted the message")).to_contain_text("Insults are not welcome here")
    assert carol.errors == [] and maya.errors == []  # type: ignore[attr-defined]

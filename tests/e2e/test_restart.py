"""The server is killed mid-conversation and restarted: both pages show it, reconnect, resume,
and end with every message exactly once (including one written while the server was down)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import create_channel, expect_once, me, message, open_conversation, open_topic, post
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def test_both_pages_recover_from_a_server_restart_with_nothing_lost(open_as: OpenAs, server: Server) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    carol = open_as("carol")
    channel = create_channel(alice, "ops")
    for page in (bob, carol):
        joined = page.context.request.post(f"/api/v1/conversations/{channel}/members", data={"user_id": me(page)["id"]})
        assert joined.ok, joined.text()
    open_conversation(bob, "ops")
    post(alice, "before the restart", topic="incident")
    expect_once(bob, "before the restart")
    open_topic(bob, "incident")
    open_topic(alice, "incident")
    for page in (alice, bob):
        expect_once(page, "before the restart")  # the topic's page has loaded

    server.stop(kill=True)  # kill -9, mid-conversation
    for page in (alice, bob):
        expect(page.locator("#conn-status")).not_to_have_attribute("data-state", "online")

    # Alice writes while the server is down: the message waits on her page, marked as not yet sent.
    post(alice, "written during the outage")
    expect(alice.locator("#messages .msg.pending", has_text="written during the outage")).to_be_visible()

    server.start()
    # Someone else posts before the pages are back: they must catch up through resume.
    posted = carol.context.request.post(
        f"/api/v1/conversations/{channel}/messages",
        data={"topic": "incident", "body": "posted while you were away", "nonce": "carol-1"},
    )
    assert posted.status == 201, posted.text()

    for page in (alice, bob):
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "online", timeout=40_000)
    for page in (alice, bob):
        for text in ("before the restart", "written during the outage", "posted while you were away"):
            expect_once(page, text)

    post(bob, "after the restart")
    expect_once(alice, "after the restart")

    # What the pages show is what the server stored: a reload shows the same, once each.
    for page in (alice, bob):
        page.reload()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
        for text in (
            "before the restart",
            "written during the outage",
            "posted while you were away",
            "after the restart",
        ):
            expect_once(page, text)
    assert message(alice, "written during the outage").count() == 1
    for page in (alice, bob):
        assert page.errors == [], page.errors  # type: ignore[attr-defined]

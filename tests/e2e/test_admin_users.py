"""An administrator at /admin/users in a real browser: invite a guest to one group, deactivate someone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs, new_context
from tests.e2e.helpers import create_channel, message, post, sidebar_item
from tests.e2e.server import Server, password_of

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


@pytest.fixture
def invite_only(tmp_path: Path) -> Iterator[Server]:
    """A server as it ships: registration by invitation only (the browser tests' default is open)."""
    srv = Server(tmp_path / "invite-only", env={"CHAT_REGISTRATION_MODE": "invite"})
    srv.start()
    yield srv
    srv.stop()


def signed_in(browser: Browser, server: Server, contexts: list[BrowserContext], username: str) -> Page:
    ctx = new_context(browser, server, contexts)
    response = ctx.request.post("/api/v1/session", data={"username": username, "password": password_of(username)})
    assert response.ok, response.text()
    page = ctx.new_page()
    page.goto("/")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
    return page


def accept_dialogs(page: Page) -> None:
    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.on("dialog", accept)


def test_a_guest_invited_to_one_group_sees_only_that_group(
    browser: Browser, invite_only: Server, contexts: list[BrowserContext]
) -> None:
    server = invite_only
    server.register("alice")  # the first account: the admin, no invitation needed
    alice = signed_in(browser, server, contexts, "alice")
    partners = create_channel(alice, "partners", private=True)
    post(alice, "Welcome, partners", topic="hello")
    expect(message(alice, "Welcome, partners")).to_be_visible()
    create_channel(alice, "board", private=True)
    create_channel(alice, "general")

    # Without an invitation nobody else may register.
    stranger = new_context(browser, server, contexts).new_page()
    stranger.goto("/register")
    expect(stranger.locator("#invite")).to_have_attribute("required", "")

    admin = alice.context.new_page()
    admin.goto("/admin/users")
    admin.select_option("#invite-role", "guest")
    admin.select_option("#invite-conversations", str(partners))
    expect(admin.locator("#invite-conversations option", has_text="board")).to_have_count(1)
    admin.select_option("#invite-expiry", "1")
    expect(admin.locator("#invitation-form input[name=single_use]")).to_be_checked()
    admin.click("#invitation-form button[type=submit]")
    link_box = admin.locator("#invitation-link")
    expect(link_box).to_be_visible()
    link = (link_box.text_content() or "").strip()
    assert re.fullmatch(rf"{re.escape(server.base)}/register\?invite=[\w-]+", link), link

    # The guest, in a browser of their own, registers with the link.
    guest = new_context(browser, server, contexts).new_page()
    guest.goto(link)
    expect(guest.locator("#invite")).to_have_value(link.split("invite=", 1)[1])
    guest.fill("#username", "vera")
    guest.fill("#display_name", "Vera Partner")
    guest.fill("#password", "vera-guest-password")
    guest.click("button[type=submit]")
    expect(guest.locator("#conn-status")).to_have_attribute("data-state", "online")
    assert guest.evaluate("() => window.salon.store.me.role") == "guest"

    # The sidebar holds the group and nothing else; the channel browser offers nothing more.
    expect(sidebar_item(guest, "partners")).to_be_visible()
    expect(guest.locator("#sidebar-lists li.side-item")).to_have_count(1)
    for hidden in ("board", "general"):
        expect(sidebar_item(guest, hidden)).to_have_count(0)
    sidebar_item(guest, "partners").locator("a").click()
    expect(message(guest, "Welcome, partners")).to_be_visible()
    guest.click("#open-browser")
    expect(guest.locator("#browser-list")).not_to_contain_text("general")
    expect(guest.locator("#browser-list")).not_to_contain_text("board")
    guest.keyboard.press("Escape")

    # The link was single use: the admin's list says so, and a second registration is refused.
    admin.reload()
    expect(admin.locator("#invitations-table tbody tr").first).to_contain_text("Used")
    again = new_context(browser, server, contexts).new_page()
    again.goto(link)
    again.fill("#username", "mallory")
    again.fill("#password", "mallory-password")
    again.click("button[type=submit]")
    expect(again.locator("#form-error")).to_have_text("This invitation code is not valid.")


def test_deactivating_a_signed_in_user_cuts_their_open_page_off(open_as: OpenAs) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    general = create_channel(alice, "general")
    joined = bob.context.request.post(f"/api/v1/conversations/{general}/members", data={"user_id": bob_id(bob)})
    assert joined.ok, joined.text()
    sidebar_item(bob, "general").locator("a").click()
    post(alice, "Before the deactivation", topic="news")
    expect(message(bob, "Before the deactivation")).to_be_visible()

    admin = alice.context.new_page()
    accept_dialogs(admin)
    admin.goto("/admin/users")
    admin.locator('tr[data-user="bob"] .deactivate-form button').click()
    expect(admin.locator('tr[data-user="bob"]')).to_contain_text("Deactivated")  # the page reloaded

    # Bob's open page loses its socket at once and is sent to the login page.
    expect(bob).to_have_url(re.compile(r"/login"))
    assert bob.context.request.get("/api/v1/me").status == 401
    post(alice, "After the deactivation", topic="news")
    expect(message(alice, "After the deactivation")).to_be_visible()
    expect(bob.locator("body")).not_to_contain_text("After the deactivation")
    bob.fill("#username", "bob")
    bob.fill("#password", password_of("bob"))
    bob.click("button[type=submit]")
    expect(bob.locator("#form-error")).to_have_text(re.compile("deactivated", re.IGNORECASE))


def bob_id(page: Page) -> int:
    me: dict[str, int] = page.evaluate("() => window.salon.store.me")
    return me["id"]

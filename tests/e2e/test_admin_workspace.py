"""An admin changes workspace settings and manages a channel from the moderation pages, keyboard and all."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]

# a public channel created from the page's own session (same-origin fetch, cookie)
CREATE = """async (name) => {
  const r = await fetch("/api/v1/conversations", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({kind: "public", name})});
  return {status: r.status, id: (await r.json()).id};
}"""


def test_settings_and_a_channel_from_the_admin_pages(server: Server, open_as: OpenAs) -> None:
    admin = open_as("alice")  # the first account: the admin
    bob = open_as("bob")
    lobby = bob.evaluate(CREATE, "lobby")["id"]

    admin.goto("/admin/settings")
    expect(admin.locator('#registration-mode option[value="domains"]')).to_be_disabled()
    admin.select_option("#channel-creation", "admins")
    admin.fill("#edit-window", "600")
    admin.locator("#settings-form button[type=submit]").press("Enter")
    expect(admin.locator(".admin-main > .form-ok")).to_have_text("Done.")
    expect(admin.locator("#channel-creation")).to_have_value("admins")
    expect(admin.locator("#edit-window")).to_have_value("600")
    assert bob.evaluate(CREATE, "nope")["status"] == 403  # the next request already follows the new setting

    admin.goto("/admin/conversations")
    row = admin.locator(f'tr[data-conversation="{lobby}"]')
    row.locator(".default-form button").click()
    expect(admin.locator(".admin-main > .form-ok")).to_have_text("Done.")
    expect(admin.locator(f'tr[data-conversation="{lobby}"]')).to_contain_text("Default channel")
    admin.goto("/admin/audit?kind=conversation.updated&verify=1")
    expect(admin.locator("#audit-table")).to_contain_text("changed is_default")
    expect(admin.locator(f'#chains-table tr[data-chain="c{lobby}"]')).to_contain_text("Verifies")
    assert not admin.errors  # type: ignore[attr-defined]

"""Notification settings in real browsers against a real server: quiet hours and mail settings on the
settings page, the one-click pause next to one's name, the do-not-disturb mark others see, and a
conversation's notification level from its menu. Each change survives a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import create_channel, post

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def settings_of(page: Page) -> dict[str, object]:
    response = page.request.get("/api/v1/me/notifications")
    assert response.ok, response.text()
    body: dict[str, object] = response.json()
    return body


def no_page_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], page.errors  # type: ignore[attr-defined]


def test_quiet_hours_and_mail_settings_are_saved_and_kept(open_as: OpenAs) -> None:
    alice = open_as("alice", timezone_id="Europe/Paris")
    alice.goto("/settings")
    form = alice.locator("#notif-form")
    expect(form).to_have_attribute("data-loaded", "true")
    expect(alice.locator("#notif-zone")).to_have_value("Europe/Paris")  # the browser's zone by default
    expect(alice.locator("#notif-delay")).to_have_value("600")
    expect(alice.locator("#notif-start")).to_be_disabled()  # no quiet hours yet

    alice.select_option("#notif-delay", "custom")
    alice.fill("#notif-delay-custom", "45")
    alice.uncheck("#notif-missed")
    alice.check("#notif-digest")
    alice.select_option("#notif-digest-hour", "7")
    alice.check("#notif-quiet")
    for day in range(7):
        box = alice.locator(f"#notif-days input[data-day='{day}']")
        if day in (0, 4):
            box.check()
        else:
            box.uncheck()
    alice.fill("#notif-start", "22:00")
    alice.fill("#notif-end", "07:30")
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-ok")).to_be_visible()

    alice.reload()
    expect(alice.locator("#notif-quiet")).to_be_checked()
    expect(alice.locator("#notif-start")).to_have_value("22:00")
    expect(alice.locator("#notif-end")).to_have_value("07:30")
    expect(alice.locator("#notif-days input:checked")).to_have_count(2)
    expect(alice.locator("#notif-delay")).to_have_value("custom")
    expect(alice.locator("#notif-delay-custom")).to_have_value("45")
    expect(alice.locator("#notif-missed")).not_to_be_checked()
    expect(alice.locator("#notif-digest-hour")).to_have_value("7")
    saved = settings_of(alice)
    assert saved["quiet_hours"] == {"days": [0, 4], "start": "22:00", "end": "07:30", "time_zone": "Europe/Paris"}
    assert saved["digest"] == {"mode": "daily", "hour": 7, "time_zone": "Europe/Paris"}
    assert saved["email_delay_s"] == 45 * 60 and saved["email_missed"] is False

    # a refused value is said, and nothing changes
    alice.fill("#notif-zone", "Atlantis/Nowhere")
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-error")).to_be_visible()
    assert settings_of(alice) == saved
    # no quiet hours any more
    alice.reload()
    expect(form).to_have_attribute("data-loaded", "true")
    alice.uncheck("#notif-quiet")
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-ok")).to_be_visible()
    assert settings_of(alice)["quiet_hours"] is None
    no_page_errors(alice)


def test_a_pause_shows_as_do_not_disturb_to_others_until_resumed(open_as: OpenAs) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    bob.click("#open-new-dm")
    bob.locator("#dm-people label", has_text="Alice").locator("input").check()
    bob.click("#dm-form button[type=submit]")
    post(bob, "are you around?")
    dm = alice.locator("#sidebar-lists [data-section=direct] li.side-item", has_text="Bob")
    expect(dm).to_be_visible()
    expect(dm.locator(".dnd-mark")).to_have_count(0)

    # Bob pauses for an hour from the menu next to his name; it survives a reload
    bob.click("#pause-button")
    bob.click("#dlg-pause button[data-pause=hour]")
    expect(bob.locator("#pause-status")).to_have_text(re.compile(r"^Paused until .*\d"))
    bob.reload()
    expect(bob.locator("#pause-status")).to_have_text(re.compile(r"^Paused until .*\d"))

    # Alice sees the mark at once, with words for a screen reader, in the sidebar and the people picker
    mark = dm.locator(".dnd-mark")
    expect(mark).to_have_attribute("aria-label", re.compile(r"^Do not disturb until .*\d"))
    expect(dm.locator("a")).to_have_attribute("aria-label", re.compile(r"Do not disturb until"))
    alice.click("#open-new-dm")
    expect(alice.locator("#dm-people label", has_text="Bob").locator(".dnd-mark")).to_be_visible()
    alice.keyboard.press("Escape")

    # Bob resumes: the mark goes for Alice, and his menu offers a pause again
    bob.click("#pause-button")
    bob.click("#dlg-pause button[data-pause=resume]")
    expect(bob.locator("#pause-status")).to_have_text("Pause notifications")
    expect(mark).to_have_count(0)
    assert settings_of(bob)["paused_until"] is None

    # "until tomorrow" means 08:00 tomorrow, in Bob's time
    bob.click("#pause-button")
    bob.click("#dlg-pause button[data-pause=tomorrow]")
    expect(bob.locator("#pause-status")).to_have_text(re.compile(r"^Paused until "))
    same = bob.evaluate(
        """() => {
          const want = new Date(); want.setDate(want.getDate() + 1); want.setHours(8, 0, 0, 0);
          return new Date(window.salon.store.notifications.paused_until).getTime() === want.getTime();
        }"""
    )
    assert same is True
    expect(mark).to_be_visible()

    # a short pause ends by itself: the mark goes when its time passes, with no event
    bob.evaluate("() => window.salon.notif.resume()")
    expect(mark).to_have_count(0)
    bob.evaluate("() => window.salon.notif.pause(new Date(Date.now() + 3000))")
    expect(mark).to_be_visible()
    expect(mark).to_have_count(0)
    expect(bob.locator("#pause-status")).to_have_text("Pause notifications")
    no_page_errors(alice, bob)


def test_a_conversations_level_is_chosen_from_its_menu(open_as: OpenAs) -> None:
    alice = open_as("alice")
    cid = create_channel(alice, "sales")
    menu = alice.locator("#conv-header details[data-action=notify-level]")
    expect(menu.locator("summary")).to_have_text("Notifications: Mentions only")
    menu.locator("summary").click()
    expect(menu.locator("input[value=mentions]")).to_be_checked()
    menu.locator("label", has_text="Nothing").click()
    expect(menu.locator("summary")).to_have_text("Notifications: Nothing")
    assert settings_of(alice)["conversations"] == {str(cid): "nothing"}

    alice.reload()
    expect(menu.locator("summary")).to_have_text("Notifications: Nothing")
    menu.locator("summary").click()
    expect(menu.locator("input[value=nothing]")).to_be_checked()
    # back to the default: no choice is stored any more
    menu.locator("label", has_text="Mentions only").click()
    expect(menu.locator("summary")).to_have_text("Notifications: Mentions only")
    assert settings_of(alice)["conversations"] == {}
    no_page_errors(alice)

"""First run, registration, login and logout, and the settings page, as a person does them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.e2e.conftest import NEEDS_BROWSER, new_context
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def test_first_run_register_login_logout(browser: Browser, server: Server, contexts: list[BrowserContext]) -> None:
    page = new_context(browser, server, contexts).new_page()
    page.goto("/")
    expect(page).to_have_url(f"{server.base}/setup")
    page.fill("#username", "founder")
    page.fill("#display_name", "The Founder")
    page.fill("#password", "founder-password")
    page.click("button[type=submit]")
    expect(page.locator("#welcome h1")).to_have_text("Welcome, The Founder")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
    assert page.evaluate("() => window.salon.store.me.role") == "admin"

    page.click("#logout-button")
    expect(page).to_have_url(f"{server.base}/login")
    page.goto("/setup")
    expect(page).to_have_url(f"{server.base}/login")  # setup is gone once an account exists

    # A wrong password says so, without telling whether the user exists.
    page.fill("#username", "founder")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("#form-error")).to_have_text("The username or password is wrong.")
    page.fill("#password", "founder-password")
    page.click("button[type=submit]")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")

    # Someone else registers (open registration) and becomes a member.
    other = new_context(browser, server, contexts).new_page()
    other.goto("/register")
    other.fill("#username", "newbie")
    other.fill("#password", "newbie-password")
    other.click("button[type=submit]")
    expect(other.locator("#welcome h1")).to_have_text("Welcome, newbie")
    expect(other.locator("#conn-status")).to_have_attribute("data-state", "online")
    assert other.evaluate("() => window.salon.store.me.role") == "member"


def test_settings_display_name_password_language(
    browser: Browser, server: Server, contexts: list[BrowserContext]
) -> None:
    server.register("alice")
    page = new_context(browser, server, contexts).new_page()
    page.goto("/login")
    page.fill("#username", "alice")
    page.fill("#password", "alice-e2e-password")
    page.click("button[type=submit]")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")

    page.goto("/settings")
    page.fill("#display_name", "Alice Liddell")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#profile-form .form-ok")).to_be_visible()
    page.fill("#current_password", "wrong-password")
    page.fill("#new_password", "a-new-password")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-form .form-error")).to_have_text("The current password is wrong.")
    page.fill("#current_password", "alice-e2e-password")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-form .form-ok")).to_be_visible()

    page.select_option("#lang", "fr")
    page.click("#language-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Réglages")
    page.goto("/")
    expect(page.locator("#welcome h1")).to_have_text("Bienvenue, Alice Liddell")
    expect(page.locator("#conn-status")).to_have_text("Connecté")

"""Browser tests: Debian's Chromium driven by Playwright against a real ``chat serve`` process.

They run only when ``CHAT_TEST_BROWSER`` is set (the path of Chromium; CI sets it
to /usr/bin/chromium); every test module here carries the ``browser`` marker.
Never ``playwright install``: the browser is Debian's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.e2e.server import CHROMIUM_ARGS, Server, chromium_path, password_of

NEEDS_BROWSER = pytest.mark.skipif(
    not os.environ.get("CHAT_TEST_BROWSER"), reason="needs CHAT_TEST_BROWSER (the path of Chromium)"
)

expect.set_options(timeout=10_000)

OpenAs = Callable[..., Page]


# Module scope, not session: sync_playwright() runs an event loop in this thread for as long as it is
# open, and the async tests collected after tests/e2e need the thread's loop free.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not os.environ.get("CHAT_TEST_BROWSER"):
        pytest.skip("needs CHAT_TEST_BROWSER (the path of Chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh server with an empty SQLite database; stopped (and its log shown on failure) at the end."""
    srv = Server(tmp_path / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for ctx in made:
        ctx.close()


def new_context(browser: Browser, server: Server, contexts: list[BrowserContext], **options: object) -> BrowserContext:
    defaults: dict[str, object] = {
        "base_url": server.base,
        "viewport": {"width": 1280, "height": 800},
        "locale": "en-US",
    }
    ctx = browser.new_context(**{**defaults, **options})  # type: ignore[arg-type]
    ctx.set_default_timeout(10_000)
    contexts.append(ctx)
    return ctx


@pytest.fixture
def open_as(browser: Browser, server: Server, contexts: list[BrowserContext]) -> OpenAs:
    """``open_as("bob")``: a browser context logged in as bob (registered if needed), on the chat page, online."""

    def open_page(username: str, *, register: bool = True, hash: str = "", **options: object) -> Page:
        if register:
            server.register(username)
        ctx = new_context(browser, server, contexts, **options)
        response = ctx.request.post("/api/v1/session", data={"username": username, "password": password_of(username)})
        assert response.ok, response.text()
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors  # type: ignore[attr-defined]
        page.goto("/" + hash)
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
        return page

    return open_page

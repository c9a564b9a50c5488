"""The installable app and Web Push in a real Chromium: the service worker, the manifest and its
icons, the push handler, and the settings page's switch and device list.

Not covered here, honestly: headless Chromium cannot reach a real push service, so a real
``pushManager.subscribe`` is never made and the switch's "on" state after a successful
subscription is not shown. A notification cannot be clicked headless: the click is dispatched in
the service worker as the event the browser sends, which runs the worker's own handler, but
without the user's gesture behind it the browser refuses ``focus()`` and ``openWindow()``; so the
tab is seen taken to the message, its focus and a new tab are not. The server side of delivery
is tested end to end in tests/push/.
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import create_channel, message, post
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]

READY_SCOPE = "() => navigator.serviceWorker.ready.then((r) => r.scope)"


def test_the_page_registers_the_service_worker_for_the_whole_origin(open_as: OpenAs, server: Server) -> None:
    page = open_as("bob")
    assert page.evaluate(READY_SCOPE) == f"{server.base}/"
    script = page.context.request.get("/sw.js")
    assert script.ok and script.headers["content-type"].startswith("text/javascript")
    assert "script-src 'self'" in script.headers["content-security-policy"]
    # the worker takes over the open tab (clients.claim), and the page still works under it
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.reload()
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
    assert page.evaluate("() => navigator.serviceWorker.controller.scriptURL") == f"{server.base}/sw.js"
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_manifest_is_linked_and_served_with_its_icons(open_as: OpenAs, server: Server) -> None:
    page = open_as("bob")
    href = page.evaluate("() => document.querySelector('link[rel=manifest]').href")
    assert href == f"{server.base}/manifest.webmanifest"
    response = page.context.request.get(href)
    assert response.ok and response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert (manifest["name"], manifest["start_url"], manifest["display"]) == ("Salon", "/", "standalone")
    sizes = set()
    for icon in manifest["icons"]:
        image = page.context.request.get(icon["src"])
        assert image.ok and image.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(image.body())) as png:
            assert png.format == "PNG" and f"{png.width}x{png.height}" == icon["sizes"]
            sizes.add(png.width)
    assert sizes == {192, 512}
    # the login page links it too: the app can be installed before signing in
    login = page.context.browser.new_page()  # type: ignore[union-attr]
    try:
        login.goto(f"{server.base}/login")
        expect(login.locator("link[rel=manifest]")).to_have_attribute("href", "/manifest.webmanifest")
    finally:
        login.close()


SHOWN = """async () => {
  const registration = await navigator.serviceWorker.ready;
  for (let i = 0; i < 100; i++) {
    const shown = await registration.getNotifications();
    if (shown.length) return shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url}));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return [];
}"""


SHOWN_TAGS = """async (tags) => {
  const registration = await navigator.serviceWorker.ready;
  for (let i = 0; i < 100; i++) {
    const shown = await registration.getNotifications();
    const urls = Object.fromEntries(shown.map((n) => [n.tag, n.data.url]));
    if (tags.every((tag) => tag in urls)) return urls;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {};
}"""


def shown_urls(page: Page, *tags: str) -> dict[str, str]:
    """The link of each notification on screen by tag, once those tagged ``tags`` are all shown."""
    urls: dict[str, str] = page.evaluate(SHOWN_TAGS, list(tags))
    return urls


def _deliver(page: Page, server: Server, data: str) -> None:
    """Hand a push message to the service worker as the browser does when the push service delivers
    one (DevTools' ServiceWorker.deliverPushMessage: no push service involved)."""
    cdp = page.context.new_cdp_session(page)
    found: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.extend(r["registrationId"] for r in event["registrations"] if not r["isDeleted"]),
    )
    cdp.send("ServiceWorker.enable")
    for _ in range(100):  # the registrations are reported as events once enabled
        if found:
            break
        page.wait_for_timeout(100)
    assert found, "no service worker registration reported"
    registration_id = found[-1]
    cdp.send(
        "ServiceWorker.deliverPushMessage", {"origin": server.base, "registrationId": registration_id, "data": data}
    )


def test_a_push_shows_the_notice_as_plain_text_with_its_link(open_as: OpenAs, server: Server) -> None:
    page = open_as("bob")
    page.context.grant_permissions(["notifications"], origin=server.base)
    page.evaluate(READY_SCOPE)
    notice = (
        '{"title":"Alice in #sales › Q3","body":"<b>figures</b> today?","url":"/#/c/4/m/9","tag":"c4",'
        '"conversation_id":4,"message_id":9}'
    )
    _deliver(page, server, notice)  # a root-relative link (no CHAT_PUBLIC_ORIGIN): resolved here
    shown = page.evaluate(SHOWN)
    assert shown == [
        {
            "title": "Alice in #sales › Q3",
            "body": "<b>figures</b> today?",
            "tag": "c4",
            "url": f"{server.base}/#/c/4/m/9",
        }
    ]
    # a link to another site in a notice is not followed: the worker keeps to its own origin
    _deliver(page, server, '{"title":"x","body":"y","url":"https://evil.example/","tag":"c5"}')
    _deliver(page, server, '{"title":"x","body":"y","url":"//evil.example/#/c/4/m/9","tag":"c6"}')  # not root
    _deliver(page, server, f'{{"title":"x","body":"y","url":"{server.base}/#/c/7/m/8","tag":"c7"}}')  # absolute
    urls = shown_urls(page, "c5", "c6", "c7")
    assert (urls.get("c5"), urls.get("c6")) == (f"{server.base}/", f"{server.base}/")
    assert urls.get("c7") == f"{server.base}/#/c/7/m/8"  # CHAT_PUBLIC_ORIGIN set: the absolute link as it is


CLICK = """async (tag) => {
  const [shown] = await self.registration.getNotifications({ tag });
  self.dispatchEvent(new NotificationEvent("notificationclick", { notification: shown }));
  for (let i = 0; i < 100; i++) {
    if (!(await self.registration.getNotifications({ tag })).length) return true;  // the handler closed it
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}"""


def test_a_relative_link_opens_the_message_at_the_origin_in_use(open_as: OpenAs, server: Server) -> None:
    """Without CHAT_PUBLIC_ORIGIN a notice's url is root-relative ("/#/c/1/m/2"): the worker resolves
    it against its own origin, and a click takes the open Salon tab there, from another page
    (a new document) and from another conversation (the same document, a new hash)."""
    page = open_as("bob")
    page.context.grant_permissions(["notifications"], origin=server.base)
    page.evaluate(READY_SCOPE)
    sales = create_channel(page, "sales")
    post(page, "figures for the Q3 tender", topic="Q3")
    expect(message(page, "figures for the Q3 tender")).to_have_attribute("id", re.compile(r"^msg-\d+$"))
    msg_id = int((message(page, "figures for the Q3 tender").get_attribute("id") or "").removeprefix("msg-"))
    other = create_channel(page, "random")
    worker = page.context.service_workers[0] if page.context.service_workers else None
    assert worker is not None and worker.url == f"{server.base}/sw.js"
    target = rf"^{re.escape(server.base)}/#/c/{sales}(/t/Q3)?/m/{msg_id}$"

    for start, tag in (("/settings", "c-page"), (f"/#/c/{other}", "c-hash")):
        page.goto(start)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        notice = f'{{"title":"Alice in #sales › Q3","body":"figures","url":"/#/c/{sales}/m/{msg_id}","tag":"{tag}"}}'
        _deliver(page, server, notice)
        assert shown_urls(page, tag).get(tag) == f"{server.base}/#/c/{sales}/m/{msg_id}"

        assert worker.evaluate(CLICK, tag) is True
        expect(page).to_have_url(re.compile(target))
        expect(page.locator("#conv-header h1")).to_contain_text("sales")
        expect(message(page, "figures for the Q3 tender")).to_be_visible()
        assert len(page.context.pages) == 1  # the open tab went there; no second one
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_settings_switch_and_device_list(open_as: OpenAs, server: Server) -> None:
    page = open_as("bob")
    endpoint = "https://8.8.8.8/push/e2e-laptop"  # a public address: stored, never sent to here
    keys = {
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg",
    }
    made = page.context.request.post(
        "/api/v1/push/subscriptions",
        data={"endpoint": endpoint, "keys": keys},
        headers={"User-Agent": "Mozilla/5.0 (Android 14; Mobile) Firefox/133.0"},
    )
    assert made.status == 201, made.text()
    page.goto("/settings")
    section = page.locator("#push-section")
    switch = page.get_by_role("switch", name="Push notifications on this device")
    expect(section).to_have_attribute("data-state", "off")
    expect(switch).to_be_enabled()
    expect(switch).not_to_be_checked()
    device = section.locator("li.push-device")
    expect(device).to_have_count(1)
    expect(device).to_contain_text("Firefox on Android")
    expect(device).not_to_contain_text("this device")
    expect(section.locator("#push-no-devices")).to_be_hidden()

    device.get_by_role("button", name="Remove").click()
    expect(device).to_have_count(0)
    expect(section.locator("#push-no-devices")).to_be_visible()
    assert page.context.request.get("/api/v1/push/subscriptions").json() == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_refused_permission_leaves_the_switch_off(open_as: OpenAs, server: Server) -> None:
    page = open_as("bob")
    page.goto("/settings")
    section = page.locator("#push-section")
    switch = page.get_by_role("switch", name="Push notifications on this device")
    expect(section).to_have_attribute("data-state", "off")
    # headless Chromium answers a permission request it was not granted with "denied"
    switch.check()
    expect(section).to_have_attribute("data-state", "denied")
    expect(switch).not_to_be_checked()
    expect(switch).to_be_disabled()
    expect(page.locator("#push-status")).to_contain_text("blocked")
    assert page.context.request.get("/api/v1/push/subscriptions").json() == []


def test_the_settings_page_in_french(open_as: OpenAs, server: Server) -> None:
    page = open_as("bob", locale="fr-FR")
    page.goto("/settings")
    expect(page.get_by_role("switch", name="Notifications push sur cet appareil")).to_be_visible()
    expect(page.locator("#push-status")).to_have_text("Désactivées sur cet appareil.")


def test_a_subscription_the_browser_cannot_make_is_reported_and_nothing_is_stored(
    open_as: OpenAs, server: Server
) -> None:
    """With permission granted, the switch asks the browser to subscribe; headless Chromium refuses
    to register with a push service ("Registration failed - permission denied"), and the page says
    so, stays off and stores nothing: the path of any browser-side failure."""
    page = open_as("bob")
    page.context.grant_permissions(["notifications"], origin=server.base)
    page.goto("/settings")
    section = page.locator("#push-section")
    switch = page.get_by_role("switch", name="Push notifications on this device")
    expect(section).to_have_attribute("data-state", "off")
    switch.check()
    expect(section).to_have_attribute("data-state", "error", timeout=30_000)
    expect(page.locator("#push-status")).to_contain_text("could not be turned on")
    expect(switch).not_to_be_checked()
    expect(switch).to_be_enabled()
    assert page.context.request.get("/api/v1/push/subscriptions").json() == []

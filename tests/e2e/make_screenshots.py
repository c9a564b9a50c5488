"""Take the README's screenshots (light, dark, narrow) of a real server with a little conversation,
and one of each moderation page and of the archive (``admin-*.png``, ``archive-*.png``).

    .venv/bin/python -m tests.e2e.make_screenshots [OUTPUT_DIR]   # default docs/screenshots

Uses Debian's Chromium (CHAT_TEST_BROWSER or /usr/bin/chromium), like the browser tests.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.server import CHROMIUM_ARGS, Server, chromium_path, password_of

ROOT = Path(__file__).resolve().parents[2]

PEOPLE = [("alice", "Alice Martin"), ("bob", "Bob Nguyen"), ("carol", "Carol Dubois"), ("dan", "Dan Okafor")]

SCRIPT = [
    ("alice", "Q3 tender", "The **Q3 tender** documents are in the shared drive. Deadline is Friday noon."),
    ("bob", "Q3 tender", "Thanks! I'll take the pricing section. @carol can you review the legal part?"),
    ("carol", "Q3 tender", "On it. Quick call? https://meet.jit.si/salon-q3-tender"),
    ("dan", "Q3 tender", "Numbers from last year, for reference:\n\n```\nlot 1  142 000 €\nlot 2   87 500 €\n```"),
    ("alice", "Offsite", "Shall we do the offsite in Lyon this year?"),
    ("bob", "Offsite", "+1 for Lyon 🎉"),
]


def post(server: Server, token_page: Page, conversation: int, topic: str, body: str, nonce: str) -> None:
    response = token_page.context.request.post(
        f"/api/v1/conversations/{conversation}/messages", data={"topic": topic, "body": body, "nonce": nonce}
    )
    assert response.ok, response.text()


def login(browser: Browser, server: Server, username: str, **options: Any) -> Page:
    ctx = browser.new_context(base_url=server.base, locale="en-US", **options)
    response = ctx.request.post("/api/v1/session", data={"username": username, "password": password_of(username)})
    assert response.ok, response.text()
    return ctx.new_page()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        server = Server(Path(tmp) / "data")
        server.start()
        try:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for username, name in PEOPLE:
                server.register(username, name)
            pages = {u: login(browser, server, u) for u, _ in PEOPLE}
            alice = pages["alice"]
            sales = {"kind": "public", "name": "sales", "description": "Deals, tenders, customers"}
            made = alice.context.request.post("/api/v1/conversations", data=sales).json()
            for name, kind in (("engineering", "public"), ("board", "private")):
                alice.context.request.post("/api/v1/conversations", data={"kind": kind, "name": name})
            users = {u["username"]: u["id"] for u in alice.context.request.get("/api/v1/users").json()["users"]}
            for username, page in pages.items():
                if username != "alice":
                    page.context.request.post(
                        f"/api/v1/conversations/{made['id']}/members", data={"user_id": users[username]}
                    )
            for n, (username, topic, body) in enumerate(SCRIPT):
                post(server, pages[username], made["id"], topic, body, f"shot-{n}")
            history = alice.context.request.get(f"/api/v1/conversations/{made['id']}/messages").json()
            reported = next(m for m in history["messages"] if m["body"].startswith("+1 for Lyon"))
            pages["dan"].context.request.post(
                f"/api/v1/messages/{reported['id']}/reports", data={"reason": "Off-topic party talk in #sales"}
            )
            bob_dm = pages["bob"].context.request.post("/api/v1/direct", data={"user_ids": [users["alice"]]}).json()
            post(server, pages["bob"], bob_dm["id"], "", "Lunch at 12:30?", "dm-1")

            shots = [
                ("light.png", {"viewport": {"width": 1280, "height": 760}, "color_scheme": "light"}),
                ("dark.png", {"viewport": {"width": 1280, "height": 760}, "color_scheme": "dark"}),
                ("narrow.png", {"viewport": {"width": 360, "height": 740}, "color_scheme": "light", "is_mobile": True}),
            ]
            for filename, options in shots:
                page = login(browser, server, "alice", **options)
                page.goto(f"/#/c/{made['id']}/t/Q3%20tender")
                expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
                expect(page.locator("#messages .msg").first).to_be_visible()
                page.wait_for_timeout(1200)
                page.screenshot(path=str(out / filename))
                page.context.close()
                print(f"wrote {out / filename}")
            admin = login(browser, server, "alice", viewport={"width": 1280, "height": 860}, color_scheme="light")
            for filename, path in (
                ("admin-reports.png", "/admin/reports"),
                ("admin-users.png", "/admin/users"),
                ("admin-settings.png", "/admin/settings"),
                ("admin-audit.png", "/admin/audit"),
                ("archive-topics.png", f"/archive/{made['id']}"),
            ):
                admin.goto(path)
                expect(admin.locator("h1")).to_be_visible()
                admin.screenshot(path=str(out / filename), full_page=True)
                print(f"wrote {out / filename}")
            # mail, push and quiet hours (issue 13): the settings page, then the pause dialog and a
            # conversation's notification level, with bob paused (alice sees his mark)
            admin.goto("/settings")
            expect(admin.locator("h1")).to_be_visible()
            admin.wait_for_timeout(800)
            admin.screenshot(path=str(out / "settings-notifications.png"), full_page=True)
            print(f"wrote {out / 'settings-notifications.png'}")
            until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
            pages["bob"].context.request.patch("/api/v1/me/notifications", data={"paused_until": until})
            admin.goto(f"/#/c/{made['id']}/t/Q3%20tender")
            expect(admin.locator("#messages .msg").first).to_be_visible()
            admin.locator(".level-menu > summary").click()
            admin.wait_for_timeout(600)
            admin.screenshot(path=str(out / "notification-level.png"))
            print(f"wrote {out / 'notification-level.png'}")
            admin.keyboard.press("Escape")
            admin.locator("#pause-button").click()
            expect(admin.locator("#dlg-pause")).to_be_visible()
            admin.wait_for_timeout(400)
            admin.screenshot(path=str(out / "pause-dialog.png"))
            print(f"wrote {out / 'pause-dialog.png'}")
            browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")

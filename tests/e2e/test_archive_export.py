"""An auditor (an admin) exports a topic as HTML from the archive pages, opens it offline with every
network request blocked, and the bundled verifier passes on it and fails on a copy with one
character changed (issue 11, point 8)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs, new_context
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]


def run_verifier(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "verify.py"], cwd=folder, capture_output=True, text=True, check=False, timeout=60
    )


def test_an_auditor_exports_a_topic_and_checks_it_offline(
    open_as: OpenAs, browser: Browser, server: Server, contexts: list[BrowserContext], tmp_path: Path
) -> None:
    alice = open_as("alice")  # the first account: the admin
    api = alice.context.request
    channel = api.post("/api/v1/conversations", data={"kind": "private", "name": "board"}).json()["id"]
    posted = []
    for n in range(30):
        body = {"body": f"minute {n} of the **board**", "nonce": f"n{n}", "topic": "Minutes"}
        posted.append(api.post(f"/api/v1/conversations/{channel}/messages", data=body).json())
    api.post(f"/api/v1/conversations/{channel}/messages", data={"body": "elsewhere", "nonce": "x", "topic": "Other"})
    assert api.patch(f"/api/v1/messages/{posted[0]['id']}", data={"body": "minute 0, amended"}).ok
    assert api.delete(f"/api/v1/messages/{posted[1]['id']}", data={"reason": "off the record"}).ok

    alice.click("#archive-link")
    alice.get_by_role("link", name="board").click()
    alice.get_by_role("link", name="Minutes").click()
    expect(alice.locator(".archive-message")).to_have_count(30)
    expect(alice.locator(".archive-history").first).to_contain_text("minute 0 of the **board**")
    expect(alice.locator(".archive-tombstone")).to_contain_text("off the record")

    form = alice.locator("form.archive-export")
    form.get_by_label("HTML archive").check()
    with alice.expect_download() as download_info:
        form.get_by_role("button", name="Export").click()
    progress = form.locator("progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_js_property("value", 1)
    expect(form.locator("[role=status]")).to_contain_text("30 messages")
    bundle = tmp_path / "bundle.zip"
    download_info.value.save_as(bundle)

    form.get_by_label("JSON lines").check()  # progress counted in messages against X-Salon-Message-Count
    with alice.expect_download() as jsonl_info:
        form.get_by_role("button", name="Export").click()
    expect(form.locator("[role=status]")).to_contain_text("Export ready: 30 messages")
    expect(progress).to_have_js_property("value", 1)
    assert len(Path(jsonl_info.value.path()).read_text().splitlines()) == 30
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(folder)

    offline = new_context(browser, server, contexts, offline=True)
    attempted: list[str] = []

    def block(route: Route) -> None:  # the bundle's own files load; anything else is refused and noted
        if route.request.url.startswith(folder.as_uri()):
            route.continue_()
            return
        attempted.append(route.request.url)
        route.abort()

    offline.route("**/*", block)
    offline.on("request", lambda r: None if r.url.startswith(folder.as_uri()) else attempted.append(r.url))
    page = offline.new_page()
    page.goto((folder / "index.html").as_uri())
    page.get_by_role("link", name="Minutes").click()
    expect(page.locator(".archive-message")).to_have_count(30)
    expect(page.locator(".archive-message").first).to_contain_text("minute 0, amended")
    expect(page.locator(".archive-tombstone")).to_contain_text("off the record")
    expect(page.get_by_text("elsewhere")).to_have_count(0)  # another topic: not exported
    assert page.locator(".archive-nav").evaluate("e => getComputedStyle(e).borderBottomStyle") == "solid"
    assert attempted == []

    ok = run_verifier(folder)
    assert (ok.returncode, ok.stdout[:3]) == (0, "OK:"), ok.stdout + ok.stderr
    forged = tmp_path / "forged"
    shutil.copytree(folder, forged)
    page_file = next((forged / "topics").glob("*.html"))
    page_file.write_text(page_file.read_text().replace("minute 7 of", "minute 8 of", 1))
    bad = run_verifier(forged)
    assert bad.returncode == 1 and "FAILED" in bad.stdout, bad.stdout

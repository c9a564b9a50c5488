"""Files in the chat page: attach by the picker, drop and paste; progress, cancel; how messages show them.

Uploads are held back where a test needs to see one in progress: ``page.route`` keeps the
request waiting until the test lets it go, so nothing depends on timing.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import JSHandle, Page, Route, expect

from tests.e2e.conftest import OpenAs
from tests.e2e.helpers import create_channel, message
from tests.e2e.server import Server
from tests.files.support import pdf_bytes, png_bytes

pytestmark = pytest.mark.browser

MAX_BYTES = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The browser tests' server with a 1 MiB upload limit (the quota stays the default 1 GiB)."""
    srv = Server(tmp_path / "data", env={"CHAT_UPLOAD_MAX_BYTES": str(MAX_BYTES)})
    srv.start()
    yield srv
    srv.stop()


UPLOADS = "**/api/v1/uploads"


def file(name: str, mime: str, data: bytes) -> dict[str, object]:
    return {"name": name, "mimeType": mime, "buffer": data}


def pick(page: Page, *files: dict[str, object]) -> None:
    """Attach files through the attach button's file chooser."""
    with page.expect_file_chooser() as chooser:
        page.click("#attach-button")
    chooser.value.set_files(list(files))  # type: ignore[arg-type]


def hold_uploads(page: Page) -> list[Route]:
    """Keep every upload request waiting (the test lets each go with ``route.continue_()``)."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(UPLOADS, hold)
    return held


def let_go(page: Page, held: list[Route]) -> None:
    for route in held:
        route.continue_()
    page.unroute(UPLOADS)


# A DataTransfer holding one file, built in the page from base64 bytes (for drop and paste).
TRANSFER = """([data, name, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  return transfer;
}"""


def transfer(page: Page, name: str, mime: str, data: bytes) -> JSHandle:
    return page.evaluate_handle(TRANSFER, [base64.b64encode(data).decode(), name, mime])


def test_a_picked_image_shows_its_progress_then_a_thumbnail_that_opens_full_size(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "design")
    alice.fill("#compose-topic", "logo")
    held = hold_uploads(alice)

    pick(alice, file("logo draft.png", "image/png", png_bytes((640, 480))))
    row = alice.locator("#draft-files li", has_text="logo draft.png")
    expect(row).to_have_attribute("data-state", "uploading")
    expect(row.locator("progress")).to_be_visible()
    expect(row.get_by_role("button", name="Cancel the upload of logo draft.png")).to_be_visible()
    let_go(alice, held)
    expect(row).to_have_attribute("data-state", "done")
    expect(row.locator("progress")).to_have_count(0)

    alice.fill("#compose-body", "first try")
    alice.press("#compose-body", "Enter")
    sent = alice.locator("#messages .msg[id^=msg-]", has_text="first try")
    thumb = sent.locator(".att-image img")
    expect(thumb).to_have_attribute("src", re.compile(r"^/files/\d+/thumb$"))
    expect(thumb).to_have_attribute("alt", "logo draft.png")
    alice.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    expect(alice.locator("#draft-files li")).to_have_count(0)

    # a click opens the full size in a dialog; Escape closes it
    sent.locator(".att-image").click()
    viewer = alice.locator("#dlg-image")
    expect(viewer).to_be_visible()
    expect(viewer.locator("h2")).to_have_text("logo draft.png")
    full = viewer.locator("#dlg-image-full")
    expect(full).to_have_attribute("src", re.compile(r"^/files/\d+/logo%20draft\.png$"))
    alice.wait_for_function("(img) => img.complete && img.naturalWidth === 640", arg=full.element_handle())
    alice.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert alice.errors == []  # type: ignore[attr-defined]


def test_a_dropped_pdf_shows_its_preview_and_page_count(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "legal")
    alice.fill("#compose-topic", "contracts")
    dragged = transfer(alice, "contract.pdf", "application/pdf", pdf_bytes(2))

    alice.dispatch_event("#messages", "dragenter", {"dataTransfer": dragged})
    expect(alice.locator("#drop-zone")).to_be_visible()
    expect(alice.locator("#drop-zone")).to_have_text("Drop files here to attach them")
    alice.dispatch_event("#messages", "drop", {"dataTransfer": dragged})
    expect(alice.locator("#drop-zone")).to_be_hidden()
    expect(alice.locator("#draft-files li", has_text="contract.pdf")).to_have_attribute("data-state", "done")

    alice.fill("#compose-body", "the contract")
    alice.press("#compose-body", "Enter")
    card = alice.locator("#messages .msg[id^=msg-]", has_text="the contract").locator(".att-pdf")
    expect(card).to_contain_text("contract.pdf")
    expect(card).to_contain_text("2 pages")
    expect(card).to_have_attribute("href", re.compile(r"^/files/\d+/contract\.pdf$"))
    preview = card.locator("img")
    expect(preview).to_have_attribute("src", re.compile(r"^/files/\d+/thumb$"))
    alice.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=preview.element_handle())


def test_a_pasted_image_is_attached_and_sent_without_text(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "screens")
    alice.fill("#compose-topic", "bugs")
    alice.focus("#compose-body")
    alice.evaluate(
        """([transfer]) => {
          const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
          document.getElementById("compose-body").dispatchEvent(paste);
        }""",
        [transfer(alice, "image.png", "image/png", png_bytes((120, 80)))],
    )
    expect(alice.locator("#draft-files li", has_text="image.png")).to_have_attribute("data-state", "done")
    alice.press("#compose-body", "Enter")  # no text: the image alone
    expect(alice.locator("#messages .msg[id^=msg-] .att-image img")).to_have_attribute("alt", "image.png")
    expect(alice.locator("#messages .msg.pending")).to_have_count(0)


def test_cancel_and_remove_take_files_out_before_sending(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "misc")
    alice.fill("#compose-topic", "notes")
    hold_uploads(alice)
    pick(alice, file("big.zip", "application/zip", b"PK\x05\x06" + bytes(18)))
    row = alice.locator("#draft-files li", has_text="big.zip")
    expect(row).to_have_attribute("data-state", "uploading")
    row.get_by_role("button", name="Cancel the upload of big.zip").click()
    expect(alice.locator("#draft-files li")).to_have_count(0)
    expect(alice.locator("#draft-files")).to_be_hidden()
    alice.unroute(UPLOADS)  # the page aborted the held request: nothing to let go

    pick(alice, file("notes.txt", "text/plain", b"remember the milk\n"))
    done = alice.locator("#draft-files li", has_text="notes.txt")
    expect(done).to_have_attribute("data-state", "done")
    done.get_by_role("button", name="Remove notes.txt").click()
    expect(alice.locator("#draft-files li")).to_have_count(0)
    expect(alice.locator("#compose-body")).to_be_focused()

    alice.fill("#compose-body", "no files after all")
    alice.press("#compose-body", "Enter")
    sent = message(alice, "no files after all")
    expect(sent).to_have_count(1)
    expect(sent.locator(".attachments")).to_have_count(0)


def test_two_files_in_one_message_reach_another_member_live(open_as: OpenAs) -> None:
    alice = open_as("alice")
    bob = open_as("bob")
    cid = create_channel(alice, "team")
    bob.goto(f"/#/c/{cid}")
    bob.click("#conv-header button[data-action=join]")
    expect(bob.locator("#compose-body")).to_be_enabled()

    alice.fill("#compose-topic", "plans")
    csv = b"item,cost\ndesk,120\n"
    pick(alice, file("floor plan.png", "image/png", png_bytes((300, 200))), file("budget.csv", "text/csv", csv))
    expect(alice.locator("#draft-files li[data-state=done]")).to_have_count(2)
    alice.fill("#compose-body", "plans attached")
    alice.press("#compose-body", "Enter")

    seen = message(bob, "plans attached")
    expect(seen.locator(".attachments li")).to_have_count(2)
    expect(seen.locator(".att-image img")).to_have_attribute("alt", "floor plan.png")
    chip = seen.locator(".att-file")
    expect(chip.locator(".att-name")).to_have_text("budget.csv")
    expect(chip.locator(".att-meta")).to_have_text(re.compile(rf"^{len(csv)} B · text/"))  # size, sniffed type
    expect(chip).to_have_attribute("href", re.compile(r"^/files/\d+/budget\.csv$"))
    response = bob.context.request.get(chip.get_attribute("href") or "")
    assert response.ok and response.body() == csv


def test_the_compose_box_with_files_fits_a_phone(open_as: OpenAs) -> None:
    alice = open_as("alice", viewport={"width": 360, "height": 740})
    alice.set_viewport_size({"width": 1280, "height": 800})
    create_channel(alice, "mobile")
    alice.set_viewport_size({"width": 360, "height": 740})
    alice.fill("#compose-topic", "phones")
    pick(alice, file("a-very-long-file-name-that-could-push-the-page-sideways.pdf", "application/pdf", pdf_bytes(1)))
    expect(alice.locator("#draft-files li[data-state=done]")).to_have_count(1)
    alice.fill("#compose-body", "on a phone")
    alice.press("#compose-body", "Enter")
    expect(message(alice, "on a phone").locator(".att-pdf")).to_be_visible()
    assert alice.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_settings_show_the_storage_used_of_the_quota(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "storage")
    pick(alice, file("big.png", "image/png", png_bytes((640, 480))))
    expect(alice.locator("#draft-files li[data-state=done]")).to_have_count(1)
    alice.goto("/settings")
    expect(alice.locator("#storage-use")).to_have_text(re.compile(r"^[\d.]+ (B|kB) of 1 GB used$"))
    expect(alice.locator("#storage-bar")).to_be_visible()
    alice.set_viewport_size({"width": 360, "height": 740})
    assert alice.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_file_over_the_limit_shows_why_and_is_not_sent(open_as: OpenAs) -> None:
    alice = open_as("alice")
    create_channel(alice, "limits")
    alice.fill("#compose-topic", "big")
    pick(alice, file("huge.bin", "application/octet-stream", os.urandom(MAX_BYTES + 200_000)))
    row = alice.locator("#draft-files li", has_text="huge.bin")
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.get_by_role("alert")).to_have_text("This file is larger than the server accepts (1 MB at most).")

    # a failed file is left out of the message (and of the draft once it is sent)
    pick(alice, file("small.txt", "text/plain", b"fits\n"))
    expect(alice.locator("#draft-files li", has_text="small.txt")).to_have_attribute("data-state", "done")
    alice.fill("#compose-body", "without the big one")
    alice.press("#compose-body", "Enter")
    sent = message(alice, "without the big one")
    expect(sent.locator(".attachments li")).to_have_count(1)
    expect(sent.locator(".att-name")).to_have_text("small.txt")
    expect(alice.locator("#draft-files")).to_be_hidden()

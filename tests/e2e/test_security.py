"""Hostile message bodies, topics and names render inert in a real browser, under a strict CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NEEDS_BROWSER, OpenAs
from tests.e2e.helpers import create_channel, me, message, open_conversation, post
from tests.e2e.server import Server

pytestmark = [pytest.mark.browser, NEEDS_BROWSER]

HOSTILE = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "[click me](javascript:window.__pwned='link')",
    "<a href=\"javascript:window.__pwned='a'\">raw link</a>",
    "![picture](javascript:window.__pwned='image')",
    "[data link](data:text/html,<script>window.__pwned='data'</script>)",
    "<svg onload=\"window.__pwned='svg'\"></svg>",
    "<iframe src=\"javascript:window.__pwned='iframe'\"></iframe>",
    "\"><script>window.__pwned='attr'</script>",
    '[titled](https://example.com "x\\" onmouseover=\\"window.__pwned=\'title\'")',
    "<details open ontoggle=\"window.__pwned='toggle'\">x</details>",
    "<style>body { display: none }</style>styled",
]

INERT = """() => {
  const root = document.getElementById('messages');
  const problems = [];
  for (const el of root.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) problems.push(`${el.tagName} ${attr.name}`);
    }
    if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'STYLE', 'SVG', 'FORM'].includes(el.tagName.toUpperCase())) {
      problems.push(el.tagName);
    }
  }
  for (const a of root.querySelectorAll('.msg-body a[href]')) {
    if (!/^(https?:|mailto:)/i.test(a.getAttribute('href'))) problems.push(`href ${a.getAttribute('href')}`);
  }
  for (const img of root.querySelectorAll('img[src]')) {
    if (/^\\s*javascript:/i.test(img.getAttribute('src'))) problems.push(`img ${img.getAttribute('src')}`);
  }
  return {problems, pwned: window.__pwned ?? null, hidden: getComputedStyle(document.body).display === 'none'};
}"""


def test_hostile_bodies_render_inert(open_as: OpenAs, server: Server) -> None:
    alice = open_as("alice")
    channel = create_channel(alice, "lab")
    bob = open_as("bob")
    joined = bob.context.request.post(f"/api/v1/conversations/{channel}/members", data={"user_id": me(bob)["id"]})
    assert joined.ok
    open_conversation(bob, "lab")

    topic = "<img src=x onerror=window.__pwned='topic'>"
    for index, body in enumerate(HOSTILE):
        post(alice, f"[m{index}] {body}", topic=topic)
        expect(alice.locator("#messages .msg[id^=msg-]", has_text=f"[m{index}]")).to_have_count(1)
    for page in (alice, bob):
        expect(page.locator("#messages .msg[id^=msg-]")).to_have_count(len(HOSTILE))
        expect(page.locator("#topics li.topic-item", has_text="<img src=x")).to_be_visible()  # a topic, as text
        # Hover and click everything that looks clickable in the messages.
        for link in page.locator("#messages .msg-body a").all():
            link.hover()
            if (link.get_attribute("href") or "").startswith("http"):
                continue  # a real link to another site: opening it is not the point here
            link.click()
        for body in page.locator("#messages .msg-body").all():
            body.hover()
        result = page.evaluate(INERT)
        assert result == {"problems": [], "pwned": None, "hidden": False}, result
    # The escaped text is shown as text.
    expect(message(bob, "[m0]")).to_contain_text("<script>window.__pwned = 'script'</script>")
    assert bob.errors == [] and alice.errors == []  # type: ignore[attr-defined]


def test_the_pages_carry_a_strict_policy_the_browser_enforces(open_as: OpenAs, server: Server) -> None:
    page = open_as("alice")
    response = page.request.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    # An inline script injected into the page is refused by the browser itself.
    blocked = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), {once: true});
            const s = document.createElement('script');
            s.textContent = 'window.__inline = 1';
            document.body.append(s);
            setTimeout(() => resolve(window.__inline === 1 ? 'ran' : 'no event'), 2000);
        })"""
    )
    assert blocked.startswith("script-src"), blocked

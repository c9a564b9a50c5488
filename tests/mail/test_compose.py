"""Plain text from sanitised message HTML (what a mail's text part and a push say)."""

from __future__ import annotations

import pytest

from chat.channels.render import render_markdown
from chat.config import Settings
from chat.mail.compose import html_to_text, origin, plain_excerpt


def to_html(markdown: str) -> str:
    return render_markdown(markdown, mentionable={}).html


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("**bold** and _em_", "bold and em"),
        ("see https://example.org/a", "see https://example.org/a"),
        ("[the docs](https://example.org/docs)", "the docs (https://example.org/docs)"),
        ("- one\n- two", "- one\n- two"),
        ("first\n\nsecond", "first\n\nsecond"),
        ("> quoted", "> quoted"),
        ("> one\n>\n> two\n\nafter", "> one\n>\n> two\n\nafter"),
        ("```\ncode  kept\n```", "code  kept"),
        ("<script>alert(1)</script> 5 < 6 & co", "<script>alert(1)</script> 5 < 6 & co"),
    ],
)
def test_text_from_safe_html(markdown: str, text: str) -> None:
    assert html_to_text(to_html(markdown)) == text


def test_an_excerpt_is_one_cut_line() -> None:
    html = to_html("para one\n\npara two " + "x" * 300)
    excerpt = plain_excerpt(html, 50)
    assert "\n" not in excerpt and len(excerpt) == 50 and excerpt.endswith("…")


def test_links_start_with_the_public_origin() -> None:
    assert origin(Settings(public_origin="https://chat.example.com/")) == "https://chat.example.com"
    assert origin(Settings(host="10.0.0.5", port=8080)) == "http://10.0.0.5:8080"

"""Markdown rendering: hostile input stays inert, mentions respect visibility, links are safe."""

from __future__ import annotations

import time
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from chat.channels.render import ALLOWED_TAGS, LINK_REL, MAX_NESTING, MentionTarget, Rendered, render_markdown

ALICE = MentionTarget(user_id=7, username="alice", display_name="Alice Display")
BOB = MentionTarget(user_id=3, username="bob.k", display_name="Bob K")
EVE = MentionTarget(user_id=9, username="eve", display_name="<b>Eve</b> & co")
CAST = {target.username: target for target in (ALICE, BOB, EVE)}

ALLOWED_ATTRIBUTES = {"a": {"href", "rel", "target"}, "span": {"class", "data-user-id"}, "code": {"class"}}
SAFE_SCHEMES = {"http", "https", "mailto"}


class Inspector(HTMLParser):
    """Records every start tag and its attributes, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def inspect(html: str) -> Inspector:
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector


def render(body: str) -> Rendered:
    return render_markdown(body, mentionable=CAST)


def assert_safe(html: str) -> Inspector:
    inspector = inspect(html)
    for tag, attrs in inspector.elements:
        assert tag in ALLOWED_TAGS, f"tag {tag!r} in {html!r}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name!r} in {html!r}"
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()), f"attribute {tag}[{name}] in {html!r}"
            if name == "href":
                assert value is not None
                assert value == value.strip()
                assert urlsplit(value).scheme.lower() in SAFE_SCHEMES, f"href {value!r}"
        if tag == "a":
            assert attrs.get("rel") == LINK_REL
            assert attrs.get("target") == "_blank"
    return inspector


NESTED_LIST = "".join("  " * depth + "- item\n" for depth in range(200))
NESTED_ORDERED = "".join("   " * depth + "1. item\n" for depth in range(200))

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;vascript:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](\\javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "[x](vbscript:msgbox(1))",
    "[x](//evil.example/path)",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    '<a href="javascript:alert(1)" onclick="alert(1)">x</a>',
    '<div onmouseover="alert(1)">hover</div>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    "<!-- comment --><div style='position:fixed'>x</div>",
    "**_*_",
    "```python\nunclosed <script>alert(1)</script>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "```js onclick=alert(1)\nx\n```",
    "`<img src=x onerror=alert(1)>`",
    "x" * 10_000,
    "*" * 10_000,
    "_" * 5_000 + "a" + "_" * 4_999,
    "[" * 10_000,
    "](" * 5_000,
    "![" * 5_000,
    ">" * 10_000,
    "> " * 5_000 + "deep",
    NESTED_LIST,
    NESTED_ORDERED,
    "![x](javascript:alert(1))",
    '[a](https://x.com "a\\" onmouseover=\\"alert(1)")',
    '[a](https://x.com "onmouseover=alert(1)")',
    "[a](https://x.com 'x' onmouseover='alert(1)')",
    '[x](https://x.com/"onmouseover="alert(1))',
    'https://x.com/"onmouseover=alert(1)',
    "https://evil.example/<script>alert(1)</script>",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#0; &#x110000; &#106;",
    "a\x00b<scr\x00ipt>alert(1)</script>",
    "\u202eevil\u202c https://x.com/\u202egpj.exe [\u202ex](https://x.com)",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "@all <span class=mention data-user-id=1>@root</span>",
    "[x](mailto:a@b.c?subject=<script>)",
    "~~<s>~~ <del onmouseover=x>y</del>",
    "[`x`](javascript:alert(1))",
    "# " + "#" * 10_000,
    "[" * 3_000 + "a](https://x.com)" + "]" * 3_000,
]


@pytest.mark.parametrize("body", HOSTILE, ids=[f"hostile-{n}" for n in range(len(HOSTILE))])
def test_hostile_input_renders_only_allowlisted_markup(body: str) -> None:
    rendered = render(body)

    assert_safe(rendered.html)
    assert all(urlsplit(link).scheme.lower() in SAFE_SCHEMES for link in rendered.links)


@pytest.mark.parametrize(
    "body",
    [">" * 10_000, "> " * 5_000 + "deep", NESTED_LIST, "*" * 10_000, "[" * 10_000],
    ids=["quote-markers", "spaced-quotes", "nested-list", "stars", "brackets"],
)
def test_pathological_nesting_is_capped(body: str) -> None:
    # Catastrophe guard only, not a speed test: a super-linear blowup on 10,000 characters
    # takes minutes, a healthy render takes milliseconds; 2 seconds separates the two.
    started = time.perf_counter()
    html = render(body).html
    assert time.perf_counter() - started < 2

    assert html.count("<blockquote>") <= MAX_NESTING
    assert html.count("<ul>") <= MAX_NESTING
    assert html.count("<em>") + html.count("<strong>") <= MAX_NESTING


def test_raw_html_is_shown_as_text() -> None:
    rendered = render("<script>alert(1)</script>")

    assert rendered.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


def test_visible_user_mention_becomes_span_with_display_name() -> None:
    rendered = render("hi @alice")

    assert rendered.html == '<p>hi <span class="mention" data-user-id="7">@Alice Display</span></p>\n'
    assert rendered.mentions == (7,)
    assert rendered.wildcard == ""


def test_invisible_user_is_not_mentioned_or_reported() -> None:
    rendered = render("ping @carol about it")

    assert rendered.html == "<p>ping @carol about it</p>\n"
    assert rendered.mentions == ()


def test_mentions_are_case_insensitive_sorted_and_unique() -> None:
    rendered = render("@ALICE, @bob.k and @Alice again. Thanks @bob.k.")

    assert rendered.mentions == (3, 7)
    assert rendered.html.count('data-user-id="7"') == 2
    assert rendered.html.endswith('<span class="mention" data-user-id="3">@Bob K</span>.</p>\n')


def test_display_name_is_escaped() -> None:
    rendered = render("@eve")

    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in rendered.html
    assert_safe(rendered.html)


@pytest.mark.parametrize(
    ("body", "wildcard"),
    [("@all please read", "all"), ("@topic heads up", "topic"), ("@topic then @all", "all"), ("@all @topic", "all")],
)
def test_wildcard_mentions(body: str, wildcard: str) -> None:
    rendered = render(body)

    assert rendered.wildcard == wildcard
    assert f'<span class="mention mention-wildcard">@{wildcard}</span>' in rendered.html
    assert rendered.mentions == ()


@pytest.mark.parametrize(
    "body",
    [
        "`@alice`",
        "```\n@alice\n```",
        "    @alice indented code",
        "[@alice](https://example.com)",
        "https://example.com/@alice",
        "<https://example.com/@alice>",
        "write to bob@alice.com",
        "@alice@example.com",
        "`@all` and `@topic`",
    ],
)
def test_mentions_are_not_recognised_in_code_links_or_addresses(body: str) -> None:
    rendered = render(body)

    assert "mention" not in rendered.html
    assert rendered.mentions == ()
    assert rendered.wildcard == ""


def test_mentions_inside_emphasis_and_lists_work() -> None:
    rendered = render("- **@alice** and _(@bob.k)_")

    assert rendered.mentions == (3, 7)


def test_code_block_keeps_language_class() -> None:
    rendered = render("```python\nprint('@alice <b>')\n```")

    assert rendered.html == "<pre><code class=\"language-python\">print('@alice &lt;b&gt;')\n</code></pre>\n"


def test_links_open_in_new_tab_without_referrer_privileges() -> None:
    rendered = render("[docs](https://example.com/docs)")

    assert rendered.html == (
        '<p><a href="https://example.com/docs" target="_blank" rel="noopener nofollow ugc">docs</a></p>\n'
    )
    assert rendered.has_link
    assert rendered.links == ("https://example.com/docs",)


def test_bare_url_is_linkified() -> None:
    rendered = render("join https://meet.jit.si/Standup?x=1&y=2 now")

    anchors = [attrs for tag, attrs in inspect(rendered.html).elements if tag == "a"]
    assert [a["href"] for a in anchors] == ["https://meet.jit.si/Standup?x=1&y=2"]
    assert rendered.links == ("https://meet.jit.si/Standup?x=1&y=2",)
    assert rendered.has_link


@pytest.mark.parametrize(
    ("body", "href"),
    [
        ("see https://example.com.", "https://example.com"),
        ("see https://example.com/a, then", "https://example.com/a"),
        ("really https://example.com/a?!", "https://example.com/a"),
        ("(see https://example.com/a)", "https://example.com/a"),
        ("(https://en.wikipedia.org/wiki/Foo_(bar))", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("**https://example.com/b**", "https://example.com/b"),
        ("'https://example.com/q'", "https://example.com/q"),
        ("HTTP://EXAMPLE.COM/Up;", "HTTP://EXAMPLE.COM/Up"),
    ],
)
def test_bare_url_excludes_trailing_punctuation(body: str, href: str) -> None:
    assert render(body).links == (href,)


@pytest.mark.parametrize(
    "body",
    [
        "`https://example.com`",
        "```\nhttps://example.com\n```",
        "ftp://example.com",
        "xhttps://example.com",
        "https://",
        "https://...",
        "(https://)",
    ],
)
def test_bare_url_not_linkified_in_code_or_other_schemes(body: str) -> None:
    rendered = render(body)

    assert rendered.links == ()
    assert not rendered.has_link


def test_existing_link_is_not_linkified_twice() -> None:
    rendered = render("[https://a.example](https://b.example) <https://c.example>")

    assert rendered.links == ("https://b.example", "https://c.example")


def test_mailto_is_a_link_but_not_an_http_link() -> None:
    rendered = render("<mailto:ops@example.com>")

    assert rendered.links == ("mailto:ops@example.com",)
    assert not rendered.has_link


def test_relative_and_unsafe_links_stay_text() -> None:
    rendered = render("[a](/admin) [b](ftp://x.example) [c](javascript:alert(1))")

    assert "<a" not in rendered.html
    assert rendered.links == ()


def test_images_degrade_to_links() -> None:
    rendered = render("![chart](https://example.com/chart.png)")

    assert "<img" not in rendered.html
    assert rendered.links == ("https://example.com/chart.png",)


def test_strikethrough_and_tables() -> None:
    rendered = render("~~old~~\n\n| a | b |\n|:--|--:|\n| 1 | 2 |")

    assert "<del>old</del>" in rendered.html
    assert "<table>" in rendered.html
    assert "<td>2</td>" in rendered.html
    assert "style" not in rendered.html

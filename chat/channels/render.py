"""Message markdown to safe HTML, with mentions and bare-URL links.

Pipeline: markdown-it-py (CommonMark + tables + strikethrough, raw HTML off, nesting
capped) → two token-level core rules (bare URLs, then mentions) → nh3 allowlist
sanitiser. Pure functions: no database, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

MAX_NESTING = 20
LINK_REL = "noopener nofollow ugc"
URL_SCHEMES = frozenset({"http", "https", "mailto"})
ALLOWED_TAGS = frozenset(
    {"a", "p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "hr", "span"}
    | {"table", "thead", "tbody", "tr", "th", "td"}
    | {f"h{level}" for level in range(1, 7)}
)
ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "span": frozenset({"class", "data-user-id"}),
    "code": frozenset({"class"}),
}
MENTION_CLASSES = frozenset({"mention", "mention mention-wildcard"})
WILDCARDS = ("all", "topic")
_ENV_KEY = "salon_mentions"

_ALLOWED_LINK = re.compile(r"(?:https?|mailto):", re.IGNORECASE)
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")
_DIGITS = re.compile(r"[0-9]{1,19}")
# http(s) only; at least one host character; stops at whitespace and at characters that never end a URL in prose.
_BARE_URL = re.compile(r"(?<![\w/.+-])https?://[^\s<>\"'`/?#]+[^\s<>\"'`]*", re.IGNORECASE)
_HAS_HOST = re.compile(r"https?://[^/?#]*[^\W_]", re.IGNORECASE)  # still names a host after trimming
_TRAILING_PUNCT = ".,;:!?'\"*_~"
# Not preceded by a word char or a character that would make it part of an address (bob@alice.com).
_MENTION = re.compile(r"(?<![\w.+\-/=@])@([a-z0-9_.\-]{1,64})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MentionTarget:
    """A user who can see the conversation, so may be mentioned in it."""

    user_id: int
    username: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """Sanitised HTML plus the facts the message action needs (who to notify, links)."""

    html: str
    mentions: tuple[int, ...]
    wildcard: str  # "" | "all" | "topic"
    has_link: bool
    links: tuple[str, ...]


@dataclass(slots=True)
class _Mentions:
    """Per-render state for the mention rule, carried in the markdown-it ``env``."""

    mentionable: Mapping[str, MentionTarget]
    user_ids: set[int] = field(default_factory=set)
    wildcard: str = ""


def render_markdown(body: str, *, mentionable: Mapping[str, MentionTarget]) -> Rendered:
    """Render a message body; only users in ``mentionable`` (lower-case username keys) become mentions."""
    found = _Mentions(mentionable)
    safe_html = sanitize_html(_MD.render(body, {_ENV_KEY: found}))
    links = _collect_hrefs(safe_html)
    return Rendered(
        html=safe_html,
        mentions=tuple(sorted(found.user_ids)),
        wildcard=found.wildcard,
        has_link=any(link.lower().startswith(("http://", "https://")) for link in links),
        links=links,
    )


def sanitize_html(html: str) -> str:
    """Apply the allowlist: tags, attributes, URL schemes; every link opens in a new, unprivileged tab."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        # "*": no generic attributes (nh3 otherwise keeps title and lang everywhere).
        attributes={"*": set()} | {tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
    )


def _filter_attribute(tag: str, attr: str, value: str) -> str | None:
    if tag == "span" and attr == "class":
        return value if value in MENTION_CLASSES else None
    if tag == "span" and attr == "data-user-id":
        return value if _DIGITS.fullmatch(value) else None
    if tag == "code" and attr == "class":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    return value


def _collect_hrefs(html: str) -> tuple[str, ...]:
    collector = _HrefCollector()
    collector.feed(html)
    collector.close()
    return tuple(collector.hrefs)


class _HrefCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def _linkify(state: StateCore) -> None:
    """Core rule: turn bare http(s) URLs in text tokens (outside links and code) into links."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out: list[Token] = []
        link_depth = 0
        for token in block.children:
            if token.type == "link_open":
                link_depth += 1
            elif token.type == "link_close":
                link_depth -= 1
            if token.type != "text" or link_depth or "://" not in token.content:
                out.append(token)
                continue
            out.extend(_split_urls(state, token))
        block.children = out


def _split_urls(state: StateCore, token: Token) -> list[Token]:
    pieces: list[Token] = []
    text, pos = token.content, 0
    for match in _BARE_URL.finditer(text):
        url = _trim_url(match.group())
        href = state.md.normalizeLink(url)
        if not _HAS_HOST.match(url) or not state.md.validateLink(href):
            continue
        _append_text(pieces, text[pos : match.start()], token.level)
        link_open = Token("link_open", "a", 1, attrs={"href": href}, markup="linkify", info="auto", level=token.level)
        link_close = Token("link_close", "a", -1, markup="linkify", info="auto", level=token.level)
        label = Token("text", "", 0, content=state.md.normalizeLinkText(url), level=token.level + 1)
        pieces.extend((link_open, label, link_close))
        pos = match.start() + len(url)
    _append_text(pieces, text[pos:], token.level)
    return pieces


def _trim_url(url: str) -> str:
    """Drop trailing sentence punctuation, and a ")" that has no "(" partner inside the URL."""
    end, unmatched = len(url), url.count(")") - url.count("(")
    while end:
        last = url[end - 1]
        if last in _TRAILING_PUNCT:
            end -= 1
        elif last == ")" and unmatched > 0:
            end, unmatched = end - 1, unmatched - 1
        else:
            break
    return url[:end]


def _mentions(state: StateCore) -> None:
    """Core rule: ``@username`` → mention span for visible users; ``@all``/``@topic`` → wildcard."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out: list[Token] = []
        link_depth = 0
        for token in block.children:
            if token.type == "link_open":
                link_depth += 1
            elif token.type == "link_close":
                link_depth -= 1
            if token.type != "text" or link_depth or "@" not in token.content:
                out.append(token)
                continue
            out.extend(_split_mentions(state, token))
        block.children = out


def _split_mentions(state: StateCore, token: Token) -> list[Token]:
    found: _Mentions = state.env[_ENV_KEY]
    mentionable = found.mentionable
    pieces: list[Token] = []
    text, pos = token.content, 0
    for match in _MENTION.finditer(text):
        name = match.group(1).lower()
        while name and name not in WILDCARDS and name not in mentionable and name[-1] in ".-":
            name = name[:-1]  # "@alice." at the end of a sentence
        end = match.start() + 1 + len(name)
        if text[end : end + 1] == "@":
            continue  # "@alice@example.com" is an address, not a mention
        attrs: dict[str, str | int | float]
        if name in WILDCARDS:
            found.wildcard = "all" if "all" in (name, found.wildcard) else name  # @all outranks @topic
            attrs, label = {"class": "mention mention-wildcard"}, f"@{name}"
        elif name in mentionable:
            target = mentionable[name]
            found.user_ids.add(target.user_id)
            attrs, label = {"class": "mention", "data-user-id": str(target.user_id)}, f"@{target.display_name}"
        else:
            continue  # unknown or cannot see the conversation: stays plain text, nobody is told
        _append_text(pieces, text[pos : match.start()], token.level)
        pieces.append(Token("mention_open", "span", 1, attrs=attrs, level=token.level))
        pieces.append(Token("text", "", 0, content=label, level=token.level + 1))
        pieces.append(Token("mention_close", "span", -1, level=token.level))
        pos = end
    _append_text(pieces, text[pos:], token.level)
    return pieces


def _append_text(pieces: list[Token], content: str, level: int) -> None:
    if content:
        pieces.append(Token("text", "", 0, content=content, level=level))


def _strikethrough_as_del(state: StateCore) -> None:
    """Core rule: markdown-it emits ``<s>`` for ``~~text~~``; the allowlist speaks ``<del>``."""
    for block in state.tokens:
        for token in block.children or ():
            if token.type in ("s_open", "s_close"):
                token.tag = "del"


class _SalonMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        """Only absolute http(s) and mailto destinations become links; anything else stays literal text."""
        return _ALLOWED_LINK.match(url) is not None


def _build_parser() -> MarkdownIt:
    options = {"html": False, "maxNesting": MAX_NESTING, "linkify": False, "typographer": False}
    md = _SalonMarkdown("commonmark", options)
    md.enable(["table", "strikethrough"])
    md.disable("image")  # ![alt](url) degrades to "!" + an ordinary link: no remote images, no tracking pixels
    md.core.ruler.after("text_join", "salon_linkify", _linkify)  # after text_join: escapes are merged into text
    md.core.ruler.after("salon_linkify", "salon_mentions", _mentions)
    md.core.ruler.push("salon_del", _strikethrough_as_del)
    return md


_MD = _build_parser()

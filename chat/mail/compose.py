"""What a notification mail says: plain text from safe HTML, links, templates, headers.

Pure functions and the mail templates (``chat/web/templates/mail/*.txt|html``, read from
disk: the mail layer imports nothing from ``chat.web``). Nothing here touches the
database or the relay; :mod:`chat.mail.missed` and :mod:`chat.mail.digest` gather the
facts and send.

Links: every link in a mail starts with :func:`origin` (``CHAT_PUBLIC_ORIGIN``, else
``http://<CHAT_HOST>:<CHAT_PORT>``, which is only right when people reach the server
there: set the public origin behind a proxy). A message opens at
``<origin>/#/c/<conversation>/m/<message>``, a topic at ``<origin>/#/c/<conversation>/t/<topic>``.
A push's link starts with :func:`push_origin`: ``CHAT_PUBLIC_ORIGIN``, else nothing (a
root-relative ``/#/c/…`` that the service worker resolves against its own origin, which is
the one the person uses).

The text part of a mail is made from each message's stored, sanitised HTML
(:func:`html_to_text`), never from its markdown: what the reader sees in the mail is
what Salon shows, links spelled out.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from chat.config import Settings

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "web" / "templates" / "mail"
_BLOCKS = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "table", "tr", "hr"} | {f"h{n}" for n in range(1, 7)})
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def origin(settings: Settings) -> str:
    """The start of every link in a mail (see the module docstring)."""
    if settings.public_origin:
        return settings.public_origin.rstrip("/")
    return f"http://{settings.host}:{settings.port}"


def push_origin(settings: Settings) -> str:
    """The start of a push's link: ``CHAT_PUBLIC_ORIGIN``, else "" (root-relative, see the module docstring)."""
    return settings.public_origin.rstrip("/") if settings.public_origin else ""


def message_link(base: str, conversation_id: int, message_id: int) -> str:
    return f"{base}/#/c/{conversation_id}/m/{message_id}"


def topic_link(base: str, conversation_id: int, topic: str) -> str:
    return f"{base}/#/c/{conversation_id}/t/{quote(topic, safe='')}"


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._quoted: list[list[str]] = []  # the output outside each open blockquote
        self._href: list[str | None] = []
        self._link_text: list[str] = []
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.out.append("\n\n")
        if tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "blockquote":
            self._quoted.append(self.out)
            self.out = []
        elif tag == "pre":
            self._pre += 1
        elif tag in ("td", "th"):
            self.out.append(" | ")
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))
            self._link_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href:
            href, text = self._href.pop(), self._link_text.pop()
            if href and href != text.strip() and not href.startswith("mailto:"):
                self.out.append(f" ({href})")
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag == "blockquote" and self._quoted:
            inner = _tidy("".join(self.out))
            self.out = self._quoted.pop()
            self.out.append("\n".join(f"> {line}" if line else ">" for line in inner.split("\n")))
        if tag in _BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._pre:
            data = _SPACES.sub(" ", data.replace("\n", " "))
        if self._link_text:
            self._link_text[-1] += data
        self.out.append(data)


def html_to_text(html: str) -> str:
    """Plain text of sanitised message HTML: paragraphs and list items on their own lines,
    each link followed by its address in parentheses (unless the text already is the address)."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return _tidy("".join(parser.out))


def _tidy(text: str) -> str:
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def plain_excerpt(html: str, limit: int) -> str:
    """One line of plain text from message HTML, cut to ``limit`` characters."""
    text = " ".join(html_to_text(html).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class MailLine:
    """One message as a notification shows it."""

    id: int
    author: str
    created_at: datetime
    topic: str
    html: str
    link: str

    @property
    def text(self) -> str:
        return html_to_text(self.html)

    @property
    def safe_html(self) -> Markup:
        return Markup(self.html)  # noqa: S704 - messages.html is sanitised by chat.channels.render


@functools.cache
def _environments() -> tuple[Environment, Environment]:
    loader = FileSystemLoader(TEMPLATES_DIR)
    html = Environment(loader=loader, autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    text = Environment(loader=loader, autoescape=False, trim_blocks=True, lstrip_blocks=True)  # noqa: S701 - text/plain
    return text, html


def render_parts(name: str, **context: Any) -> tuple[str, str]:
    """``(text, html)`` of the mail template pair ``<name>.txt`` / ``<name>.html``."""
    text_env, html_env = _environments()
    return text_env.get_template(f"{name}.txt").render(**context), html_env.get_template(f"{name}.html").render(
        **context
    )


def fill(message: EmailMessage, text: str, html: str, *, unsubscribe: str) -> EmailMessage:
    """Body parts and the one-click unsubscribe headers (RFC 2369, RFC 8058) of a notification."""
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message["Auto-Submitted"] is None:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message

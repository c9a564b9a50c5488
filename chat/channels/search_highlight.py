"""Mark the words a search matched, in a message's sanitised HTML and in its topic.

Highlighting works on the server's own rendered HTML: tags are copied as they
are (they come out of the sanitiser), text is re-escaped, and each word that
matches a search word is wrapped in ``<mark>``. Words are compared the way
the SQLite index compares them: case-folded, accents removed, whole words
(or a prefix, for the query's last word). Nothing a user typed is echoed
unescaped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from html import escape
from html.parser import HTMLParser

_WORD = re.compile(r"[^\W_]+")


def fold(word: str) -> str:
    """Case-fold and strip diacritics: "Élan" and "elan" compare equal."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Highlighter:
    """Built from the query's terms: (words, last word is a prefix)."""

    def __init__(self, terms: Iterable[tuple[Sequence[str], bool]]) -> None:
        self.exact: set[str] = set()
        self.prefixes: list[str] = []
        for words, prefix in terms:
            folded = [fold(w) for w in words]
            if prefix and folded:
                self.prefixes.append(folded.pop())
            self.exact.update(folded)

    def matches(self, word: str) -> bool:
        folded = fold(word)
        return folded in self.exact or any(folded.startswith(p) for p in self.prefixes)

    def text(self, plain: str) -> str:
        """Plain text to HTML, with matching words marked."""
        if not self.exact and not self.prefixes:
            return escape(plain, quote=False)
        out: list[str] = []
        pos = 0
        for found in _WORD.finditer(plain):
            if self.matches(found.group()):
                out.append(escape(plain[pos : found.start()], quote=False))
                out.append(f"<mark>{escape(found.group(), quote=False)}</mark>")
                pos = found.end()
        out.append(escape(plain[pos:], quote=False))
        return "".join(out)

    def html(self, html: str) -> str:
        """Sanitised HTML with matching words in its text marked; tags untouched."""
        if not self.exact and not self.prefixes:
            return html
        marker = _Marker(self)
        marker.feed(html)
        marker.close()
        return "".join(marker.out)


class _Marker(HTMLParser):
    def __init__(self, highlighter: Highlighter) -> None:
        super().__init__(convert_charrefs=True)
        self.highlighter = highlighter
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(self.highlighter.text(data))

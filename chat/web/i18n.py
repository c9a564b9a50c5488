"""English and French for the browser UI.

One flat catalog per language in ``chat/web/locales/<lang>.json`` (dotted
keys, ``{name}`` placeholders). The server renders pages with it and hands
the very same catalog to the JavaScript as a JSON data island, so both sides
say the same words. A key missing from a catalog falls back to English, then
to the key itself (a test keeps the catalogs' keys identical).

The language is, in order: an explicit choice (the settings page stores it
in the ``salon_lang`` cookie), then the browser's ``Accept-Language``, then
English.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SUPPORTED: tuple[str, ...] = ("en", "fr")
DEFAULT = "en"
LANG_COOKIE = "salon_lang"

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """The strings of one language (English for an unsupported one)."""
    if lang not in SUPPORTED:
        lang = DEFAULT
    loaded: dict[str, str] = json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    if lang != DEFAULT:
        return {**catalog(DEFAULT), **loaded}
    return loaded


def supported(lang: str | None) -> str | None:
    """``lang`` if it names a supported language (``fr-CA`` counts as ``fr``), else None."""
    if not lang:
        return None
    base = lang.strip().lower().split("-")[0]
    return base if base in SUPPORTED else None


def parse_accept_language(header: str | None) -> list[str]:
    """The languages of an ``Accept-Language`` header, best first (q=0 dropped, malformed parts ignored)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:512].split(",")):
        match = _RANGE.match(part)
        if match is None:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if quality > 0:
            ranked.append((-quality, index, match.group(1)))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The UI language: an explicit preference, else the browser's best supported one, else English."""
    chosen = supported(preferred)
    if chosen is not None:
        return chosen
    for tag in parse_accept_language(accept_language):
        found = supported(tag)
        if found is not None:
            return found
    return DEFAULT


def translate(lang: str, key: str, **values: Any) -> str:
    """The text for ``key`` with ``{name}`` placeholders filled in (unknown placeholders stay as they are)."""
    text = catalog(lang).get(key, key)
    if not values:
        return text
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


class Translator:
    """``_("key", name=...)`` in templates; ``catalog`` for the JavaScript data island."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in SUPPORTED else DEFAULT

    def __call__(self, key: str, **values: Any) -> str:
        return translate(self.lang, key, **values)

    @property
    def catalog(self) -> dict[str, str]:
        return catalog(self.lang)

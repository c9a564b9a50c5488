"""Names people read: channel and group names, topics and display names.

One place decides what a name may contain and when two names look alike,
for every kind of name (``chat.accounts`` uses it for display names and
usernames; channels may not import accounts, so it lives here).

* :func:`clean_name` normalises a name to NFKC (fullwidth ``Ｑ３`` is ``Q3``,
  ``ﬁ`` is ``fi``), collapses whitespace, and refuses characters that change
  how a name looks without being seen: bidi controls (``bidi_control``) and
  zero-width, format (Unicode category Cf), default-ignorable and misplaced
  variation-selector characters (``invisible_character``). A variation
  selector 15/16 is kept right after a symbol (an emoji's text or emoji form).
* :func:`confusable_key` is how a name looks: the UTS #39 skeleton (NFD, each
  character replaced by its prototype from Unicode's ``confusables.txt``, NFD
  again), case-folded, and skeletonised once more, so ``Ian`` and ``lan``,
  ``PayPaI`` and ``paypal``, Latin ``a`` and Cyrillic ``а`` share a key. Two
  names with the same key are confusable.

The prototype table comes from the ``confusable-homoglyphs`` package (pure
Python, Unicode's ``confusables.txt`` compiled to JSON). Its JSON links each
source character to its prototype *and* each prototype to its sources; the
direction is recovered once, on first use (:func:`_prototypes`): a source has
exactly one entry, its prototype, which lists it back. docs/architecture.md
says why this library.
"""

from __future__ import annotations

import functools
import unicodedata

from confusable_homoglyphs import confusables as _homoglyphs  # type: ignore[import-untyped]

from chat.errors import Invalid

KEY_MAX = 400  # a skeleton can be longer than its name ("m" → "rn"); the key columns hold 400

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f"  # arabic letter mark, left-to-right / right-to-left marks
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)
# Invisible characters outside category Cf (which is refused whole): default-ignorable
# letters and marks that render as nothing.
INVISIBLE = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # hangul fillers
    "\u17b4\u17b5"  # khmer inherent vowels
    "\u180b\u180c\u180d\u180f"  # mongolian free variation selectors
    "\u2800"  # braille pattern blank
)
_EMOJI_SELECTORS = frozenset("\ufe0e\ufe0f")


def _is_variation_selector(ch: str) -> bool:
    return "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef"


def clean_name(value: str, field: str) -> str:
    """``value`` in NFKC with whitespace collapsed; ``Invalid`` if it holds a bidi control or an invisible character."""
    value = " ".join(unicodedata.normalize("NFKC", value).split())
    previous = ""
    for ch in value:
        if ch in BIDI_CONTROLS:
            raise Invalid(
                "bidi_control",
                f"{field} contains a text-direction control character (U+{ord(ch):04X})",
                field=field,
                character=f"U+{ord(ch):04X}",
            )
        invisible = ch in INVISIBLE or unicodedata.category(ch) == "Cf"
        if _is_variation_selector(ch):
            invisible = not (ch in _EMOJI_SELECTORS and previous and unicodedata.category(previous) == "So")
        if invisible:
            raise Invalid(
                "invisible_character",
                f"{field} contains an invisible character (U+{ord(ch):04X})",
                field=field,
                character=f"U+{ord(ch):04X}",
            )
        previous = ch
    return value


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text``: NFD, each character mapped to its prototype, NFD."""
    table = _prototypes()
    mapped = "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


@functools.lru_cache(maxsize=65536)  # topics are compared against every topic of a conversation
def confusable_key(name: str) -> str:
    """How ``name`` looks, without regard to case: equal keys mean confusable names."""
    return skeleton(skeleton(name).casefold())[:KEY_MAX]


@functools.cache
def _prototypes() -> dict[str, str]:
    """Source character → prototype, recovered from the library's two-way table."""
    links: dict[str, list[str]] = {
        _strip_marks(key): [_strip_marks(entry["c"]) for entry in entries]
        for key, entries in _homoglyphs.confusables_data.items()
    }
    table: dict[str, str] = {}
    for char, targets in links.items():
        if len(char) != 1 or len(targets) != 1:
            continue  # prototypes of several characters, and prototypes with several sources
        target = targets[0]
        back = links.get(target, [])
        if char not in back:
            continue
        if len(back) == 1 and len(target) == 1 and not _source_of_pair(char, target):
            continue  # a pair that names each other: ``target`` is the source
        table[char] = unicodedata.normalize("NFD", target)
    return table


def _source_of_pair(a: str, b: str) -> bool:
    """In a pair with one source and one prototype, whether ``a`` is the source.

    Skeletons map characters after NFD, so a character that NFD changes is
    never a source (the JSON writes some NFD prototypes composed); otherwise
    any fixed choice gives the same skeletons.
    """
    a_stable = unicodedata.normalize("NFD", a) == a
    b_stable = unicodedata.normalize("NFD", b) == b
    if a_stable != b_stable:
        return a_stable
    return a > b


def _strip_marks(text: str) -> str:
    # the JSON keeps the left-to-right marks that confusables.txt's comments put around RTL characters
    return text.replace("\u200e", "")

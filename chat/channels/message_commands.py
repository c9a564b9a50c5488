"""Inputs of the message, topic and read-marker actions, with their limits.

Each command is exactly the JSON body a client sends (REST) or the fields of a
websocket frame; ids that name *what* is acted on (the conversation, the
message) are the action's own arguments, as in a REST path. ``Checked``
enforces the static limits; the body length limit is a setting
(``max_message_chars``), so the action checks it (``check_body``).

Topic names: 1–60 characters after whitespace normalisation; matched without
regard to case (``topic_key``); the first spelling used in a conversation is
its display form. A resolved topic is Zulip's convention: its name starts with
``"✔ "``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from chat.channels.names import clean_name
from chat.errors import Invalid
from chat.validation import Checked, limits, normalise_space

TOPIC_MAX = 60
NONCE_MAX = 64
REASON_MAX = 500
DEFAULT_MAX_CHARS = 10_000
RESOLVED_PREFIX = "✔ "
EMOJI_MAX_CODE_POINTS = 16

Scope = Literal["one", "later", "all"]
VisibilityMode = Literal["muted", "followed", "default"]

_TOPIC = limits(strip=True, max_len=TOPIC_MAX, description="1 to 60 characters; matched without regard to case")
_NEW_TOPIC = limits(strip=True, min_len=1, max_len=TOPIC_MAX, description="1 to 60 characters")


# --- names and bodies -----------------------------------------------------------------


def normalise_topic(name: str) -> str:
    return normalise_space(name)


def topic_key(name: str) -> str:
    """The case-insensitive identity of a topic. Case folding can lengthen a name
    (ß → ss), so the column holds four times the 60 characters of a topic."""
    return normalise_topic(name).casefold()[: TOPIC_MAX * 4]


def is_resolved(name: str) -> bool:
    return name.startswith(RESOLVED_PREFIX)


def resolved_name(name: str) -> str:
    """``"✔ " + name``, shortened so that it still fits in 60 characters."""
    if is_resolved(name):
        return name
    return RESOLVED_PREFIX + name[: TOPIC_MAX - len(RESOLVED_PREFIX)].rstrip()


def unresolved_name(name: str) -> str:
    while is_resolved(name):
        name = name[len(RESOLVED_PREFIX) :].lstrip()
    return name


def check_body(body: str, max_chars: int, *, may_be_empty: bool = False) -> str:
    """The body to store (trailing whitespace dropped); ``empty_body`` or ``body_too_long`` otherwise.

    ``may_be_empty``: a message carrying files needs no text."""
    text = body.rstrip()
    if not text.strip() and not may_be_empty:
        raise Invalid("empty_body", "the message body is empty", field="body")
    if not text.strip():
        return ""
    if len(text) > max_chars:
        raise Invalid(
            "body_too_long",
            f"the message body is longer than {max_chars} characters ({len(text)})",
            field="body",
            limit=max_chars,
        )
    return text


# --- emoji ------------------------------------------------------------------------------

_SHORTCODE = re.compile(r":[a-z0-9_+\-]{1,32}:")
_ZWJ = "\u200d"
_KEYCAP = "\u20e3"
_VARIATION = frozenset({"\ufe0e", "\ufe0f"})
_KEYCAP_BASES = frozenset("0123456789#*")


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_modifier(ch: str) -> bool:
    """What may follow an emoji base: variation selectors, skin tones, tag characters."""
    cp = ord(ch)
    return ch in _VARIATION or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F


def _is_base(ch: str) -> bool:
    return unicodedata.category(ch) == "So" and not _is_regional(ch)


def is_emoji(value: str) -> bool:
    """One emoji (a single grapheme: ZWJ sequences, skin tones, flags, keycaps) or a ``:shortcode:``."""
    if _SHORTCODE.fullmatch(value):
        return True
    if not 1 <= len(value) <= EMOJI_MAX_CODE_POINTS:
        return False
    if len(value) == 2 and all(_is_regional(ch) for ch in value):
        return True  # a flag: two regional indicators
    if value[0] in _KEYCAP_BASES:
        return value[1:] in (_KEYCAP, "\ufe0f" + _KEYCAP)
    expect_base = True
    for ch in value:
        if expect_base:
            if not _is_base(ch):
                return False
            expect_base = False
        elif ch == _ZWJ:
            expect_base = True
        elif not _is_modifier(ch):
            return False
    return not expect_base


def check_emoji(value: str) -> str:
    emoji = unicodedata.normalize("NFC", value)
    if not is_emoji(emoji):
        raise Invalid("not_an_emoji", "a reaction is one emoji or a :shortcode: of a-z, 0-9, _, + and -")
    return emoji


# --- commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PostMessage(Checked):
    """Post a message. Channels and groups need a topic; direct conversations take none.

    ``nonce`` makes the post idempotent: the same author and nonce return the stored
    message. A body of exactly ``/meet [title]`` posts a new video-meeting link.
    """

    body: str = field(
        metadata=limits(
            description="markdown, 1 to 10,000 characters (setting max_message_chars); may be empty with attachments"
        )
    )
    nonce: str = field(metadata=limits(min_len=1, max_len=NONCE_MAX, description="1 to 64 characters"))
    topic: str = field(default="", metadata=_TOPIC)
    attachments: list[int] = field(
        default_factory=list,
        metadata=limits(max_items=10, description="ids of your own uploads not yet attached elsewhere, at most 10"),
    )


@dataclass(frozen=True)
class EditMessage(Checked):
    """Replace the body of your own message; the old body stays in its history."""

    body: str = field(metadata=limits(description="markdown, 1 to 10,000 characters"))


@dataclass(frozen=True)
class DeleteMessage(Checked):
    """Delete a message, leaving a tombstone (who, when, why)."""

    reason: str = field(default="", metadata=limits(strip=True, max_len=REASON_MAX))


@dataclass(frozen=True)
class UpdateTopic(Checked):
    """Rename, resolve / unresolve or move a topic, or part of it.

    ``scope``: ``all`` (the whole topic), ``one`` (only ``message_id``) or ``later``
    (``message_id`` and every later message of the topic).
    """

    topic: str = field(metadata=_NEW_TOPIC)
    new_name: str | None = field(default=None, metadata=_NEW_TOPIC)
    resolved: bool | None = None
    move_to_conversation: int | None = field(default=None, metadata=limits(minimum=1))
    scope: Scope = "all"
    message_id: int | None = field(default=None, metadata=limits(minimum=1))

    def __post_init__(self) -> None:
        if self.new_name is not None:  # ``topic`` names an existing topic: it is matched as stored
            object.__setattr__(self, "new_name", clean_name(self.new_name, "new_name"))
        super().__post_init__()
        if self.new_name is None and self.resolved is None and self.move_to_conversation is None:
            raise Invalid("nothing_to_change", "give new_name, resolved or move_to_conversation")
        if self.scope != "all" and self.message_id is None:
            raise Invalid("missing_field", f"scope {self.scope!r} needs message_id", field="message_id")


@dataclass(frozen=True)
class SetTopicVisibility(Checked):
    """Mute or follow a topic for yourself (``default`` clears the choice)."""

    mode: VisibilityMode


@dataclass(frozen=True)
class MarkRead(Checked):
    """Mark messages up to ``up_to_message_id`` as read: the whole conversation, or only ``topic``."""

    up_to_message_id: int = field(metadata=limits(minimum=0))
    topic: str | None = field(default=None, metadata=_NEW_TOPIC)

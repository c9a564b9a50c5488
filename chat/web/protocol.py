"""The websocket protocol: client frames into typed commands, and the server's frames.

Every client frame is a JSON object with a ``type`` and an ``id`` chosen by
the client (a string of at most 64 characters or an integer); the server
answers each with ``ack`` or ``error`` carrying the same ``id``. See
docs/protocol.md for every frame, error code and close code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chat.errors import ChatError, Invalid
from chat.validation import INT64_MAX, INT64_MIN, Checked, encode, limits
from chat.web.schema import JsonError, loads, parse, refuse_surrogates

FrameId = str | int

_BAD_ID_CHARS = re.compile("[\x00\ud800-\udfff]")  # an id is echoed back: NUL, lone surrogates refused

# Close codes live in chat.realtime.connection (docs/protocol.md lists them all).
MAX_ID = INT64_MAX  # ids and cursors beyond a PostgreSQL bigint cannot exist: out_of_range, not a server error
_ID = limits(minimum=1, maximum=MAX_ID)
_CURSOR = limits(minimum=0, maximum=MAX_ID)


@dataclass(frozen=True)
class PostFrame(Checked):
    """Post a message: ``nonce`` makes a retry safe (same nonce, one message)."""

    conversation: int = field(metadata=_ID)
    body: str
    nonce: str = field(metadata=limits(min_len=1, max_len=64))
    topic: str | None = None
    attachments: list[int] = field(default_factory=list, metadata=limits(max_items=10))


@dataclass(frozen=True)
class EditFrame(Checked):
    message: int = field(metadata=_ID)
    body: str


@dataclass(frozen=True)
class DeleteFrame(Checked):
    message: int = field(metadata=_ID)
    reason: str | None = field(default=None, metadata=limits(max_len=500))


@dataclass(frozen=True)
class ReactFrame(Checked):
    message: int = field(metadata=_ID)
    emoji: str = field(metadata=limits(min_len=1, max_len=64))


@dataclass(frozen=True)
class ReadFrame(Checked):
    conversation: int = field(metadata=_ID)
    up_to_message_id: int = field(metadata=_CURSOR)
    topic: str | None = None


@dataclass(frozen=True)
class TypingFrame(Checked):
    conversation: int = field(metadata=_ID)
    topic: str | None = field(default=None, metadata=limits(max_len=60))


@dataclass(frozen=True)
class ResumeFrame(Checked):
    after: int = field(metadata=_CURSOR)


@dataclass(frozen=True)
class PingFrame(Checked):
    pass


FRAMES: dict[str, type[Checked]] = {
    "post": PostFrame,
    "edit": EditFrame,
    "delete": DeleteFrame,
    "react": ReactFrame,
    "unreact": ReactFrame,
    "read": ReadFrame,
    "typing": TypingFrame,
    "resume": ResumeFrame,
    "ping": PingFrame,
}


class FrameError(Exception):
    """A frame that cannot be handled; answered with an error frame, nothing changes."""

    def __init__(self, frame_id: FrameId | None, error: ChatError) -> None:
        super().__init__(error.message)
        self.frame_id = frame_id
        self.error = error


@dataclass(frozen=True)
class Frame:
    type: str
    id: FrameId
    command: Any


def parse_frame(raw: str | bytes) -> Frame:
    """A client frame into its command; ``FrameError`` (never anything else) for any bad input."""
    try:
        data = loads(raw)
    except JsonError as exc:
        raise FrameError(None, Invalid("invalid_json", f"the frame is not valid JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise FrameError(None, Invalid("bad_frame", "a frame must be a JSON object"))
    frame_id = data.pop("id", None)
    if frame_id is None:
        raise FrameError(None, Invalid("missing_field", "every frame needs an id", field="id"))
    if not _good_id(frame_id):
        raise FrameError(
            None,
            Invalid("wrong_type", "id must be a string of at most 64 characters or a 64-bit integer", field="id"),
        )
    try:
        refuse_surrogates(data)
    except ChatError as exc:
        raise FrameError(frame_id, exc) from None
    kind = data.pop("type", None)
    if not isinstance(kind, str):
        raise FrameError(frame_id, Invalid("missing_field", "every frame needs a type", field="type"))
    cls = FRAMES.get(kind)
    if cls is None:
        raise FrameError(frame_id, Invalid("unknown_type", f"unknown frame type {kind[:40]!r}"))
    try:
        command = parse(cls, data)
    except ChatError as exc:
        raise FrameError(frame_id, exc) from None
    return Frame(kind, frame_id, command)


def _good_id(frame_id: object) -> bool:
    """A frame id is echoed in the answer: a short string without NUL, or an integer a client can hold."""
    if isinstance(frame_id, str):
        return len(frame_id) <= 64 and not _BAD_ID_CHARS.search(frame_id)
    return isinstance(frame_id, int) and not isinstance(frame_id, bool) and INT64_MIN <= frame_id <= INT64_MAX


# The server's frames, encoded once by ``chat.validation.encode`` (the realtime layer's encoding too).


def ack(frame_id: FrameId, **data: Any) -> bytes:
    return encode({"type": "ack", "id": frame_id, **data})


def error(frame_id: FrameId | None, exc: ChatError) -> bytes:
    return encode({"type": "error", "id": frame_id, **exc.to_dict()})


def hello(user: dict[str, Any], last_event_id: int, heartbeat_s: int) -> bytes:
    return encode({"type": "hello", "user": user, "last_event_id": last_event_id, "heartbeat_s": heartbeat_s})


def resumed(last_event_id: int, frame_id: FrameId | None = None) -> bytes:
    """The end of a replay; ``id`` is the ``resume`` frame's (the answer to it, like an ack)."""
    return encode({"type": "resumed", "id": frame_id, "last_event_id": last_event_id})

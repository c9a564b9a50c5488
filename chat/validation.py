"""Limits on command fields, enforced whoever builds the command.

Commands are frozen dataclasses that inherit :class:`Checked`; a field's
limits sit in its metadata::

    @dataclass(frozen=True)
    class CreateConversation(Checked):
        name: str = field(metadata=limits(min_len=1, max_len=60))

Building a command with a value outside its limits raises ``Invalid`` with a
stable code (``too_long``, ``too_short``, ``bad_format``, ``out_of_range``),
so the REST API, the websocket, the CLI and tests all get the same checks.

Every field is checked, with or without limits: a string (or a string in a
list) with a NUL character or a lone UTF-16 surrogate is ``bad_format`` (no
database text column holds the first, no UTF-8 text the second); an integer
(or an integer in a list) outside the signed 64-bit range is ``out_of_range``
(no database column holds it). ``chat.web.schema`` turns JSON into commands
and commands into JSON Schema.

The way back out lives here too, below every layer that needs it: :func:`to_json`
makes plain data (dataclasses, lists, datetimes) JSON-ready, for HTTP answers and
event payloads alike, and :func:`encode` writes a frame as compact UTF-8 JSON, the
one wire encoding of websocket frames and broker envelopes.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.errors import Invalid

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Limits:
    min_len: int | None = None
    max_len: int | None = None
    pattern: str | None = None
    strip: bool = False  # normalise whitespace: strip ends, collapse runs to one space
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    min_items: int | None = None
    description: str = ""


_NO_LIMITS = Limits()


def limits(**kwargs: Any) -> dict[str, Limits]:
    return {"limits": Limits(**kwargs)}


def normalise_space(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


def check_chars(name: str, value: str) -> str:
    """``value`` unless it holds a NUL character or a lone surrogate (``bad_format``)."""
    found = _BAD_CHARS.search(value)
    if found is not None:
        what = "NUL characters" if found.group() == "\x00" else "lone UTF-16 surrogates"
        raise Invalid("bad_format", f"{name} must not contain {what}", field=name)
    return value


def check_int(name: str, value: int, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` if within ``minimum``…``maximum`` (default: the signed 64-bit range), else ``out_of_range``."""
    low = INT64_MIN if minimum is None else minimum
    high = INT64_MAX if maximum is None else maximum
    if value < low:
        raise Invalid("out_of_range", f"{name} must be at least {low}", field=name)
    if value > high:
        raise Invalid("out_of_range", f"{name} must be at most {high}", field=name)
    return value


class Checked:
    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            lim: Limits = f.metadata.get("limits", _NO_LIMITS)
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, str):
                check_chars(f.name, value)
                if lim.strip:
                    value = normalise_space(value)
                    object.__setattr__(self, f.name, value)
                _check_text(f.name, value, lim)
            elif isinstance(value, int) and not isinstance(value, bool):
                check_int(f.name, value, lim.minimum, lim.maximum)
            elif isinstance(value, list | tuple):
                if lim.max_items is not None and len(value) > lim.max_items:
                    raise Invalid("too_many", f"{f.name} takes at most {lim.max_items} items", field=f.name)
                if lim.min_items is not None and len(value) < lim.min_items:
                    raise Invalid("too_few", f"{f.name} needs at least {lim.min_items} items", field=f.name)
                for item in value:
                    if isinstance(item, str):
                        check_chars(f.name, item)
                    elif isinstance(item, int) and not isinstance(item, bool):
                        check_int(f.name, item)


def _check_text(name: str, value: str, lim: Limits) -> None:
    if lim.max_len is not None and len(value) > lim.max_len:
        raise Invalid("too_long", f"{name} is longer than {lim.max_len} characters", field=name, limit=lim.max_len)
    if lim.min_len is not None and len(value) < lim.min_len:
        if lim.min_len == 1:
            raise Invalid("empty", f"{name} must not be empty", field=name)
        raise Invalid("too_short", f"{name} needs at least {lim.min_len} characters", field=name, limit=lim.min_len)
    if lim.pattern is not None and not re.fullmatch(lim.pattern, value):
        raise Invalid("bad_format", f"{name} has characters that are not allowed", field=name)


def to_json(value: Any) -> Any:
    """Plain data (dataclasses, lists, tuples, dicts, datetimes) into JSON-ready values."""
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, datetime) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return to_json(_json_ready(value))
    return value


def encode(frame: Mapping[str, Any]) -> bytes:
    """A frame as compact UTF-8 JSON; dataclasses and datetimes in it are written as :func:`to_json`
    writes them (without walking the plain data around them)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=_json_ready).encode()


def _json_ready(value: Any) -> Any:
    """One dataclass (its fields) or datetime (ISO 8601), the values JSON has no form for."""
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON data")

"""Limits on command fields, enforced whoever builds the command.

Commands are frozen dataclasses that inherit :class:`Checked`; a field's
limits sit in its metadata::

    @dataclass(frozen=True)
    class CreateConversation(Checked):
        name: str = field(metadata=limits(min_len=1, max_len=60))

Building a command with a value outside its limits raises ``Invalid`` with a
stable code (``too_long``, ``too_short``, ``bad_format``, ``out_of_range``),
so the REST API, the websocket, the CLI and tests all get the same checks.
``chat.web.schema`` turns JSON into commands and commands into JSON Schema.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from chat.errors import Invalid


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


def limits(**kwargs: Any) -> dict[str, Limits]:
    return {"limits": Limits(**kwargs)}


def normalise_space(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


class Checked:
    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            lim: Limits | None = f.metadata.get("limits")
            if lim is None:
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, str):
                if lim.strip:
                    value = normalise_space(value)
                    object.__setattr__(self, f.name, value)
                _check_text(f.name, value, lim)
            elif isinstance(value, int) and not isinstance(value, bool):
                if lim.minimum is not None and value < lim.minimum:
                    raise Invalid("out_of_range", f"{f.name} must be at least {lim.minimum}", field=f.name)
                if lim.maximum is not None and value > lim.maximum:
                    raise Invalid("out_of_range", f"{f.name} must be at most {lim.maximum}", field=f.name)
            elif isinstance(value, list | tuple):
                if lim.max_items is not None and len(value) > lim.max_items:
                    raise Invalid("too_many", f"{f.name} takes at most {lim.max_items} items", field=f.name)
                if lim.min_items is not None and len(value) < lim.min_items:
                    raise Invalid("too_few", f"{f.name} needs at least {lim.min_items} items", field=f.name)


def _check_text(name: str, value: str, lim: Limits) -> None:
    if lim.max_len is not None and len(value) > lim.max_len:
        raise Invalid("too_long", f"{name} is longer than {lim.max_len} characters", field=name, limit=lim.max_len)
    if lim.min_len is not None and len(value) < lim.min_len:
        if lim.min_len == 1:
            raise Invalid("empty", f"{name} must not be empty", field=name)
        raise Invalid("too_short", f"{name} needs at least {lim.min_len} characters", field=name, limit=lim.min_len)
    if lim.pattern is not None and not re.fullmatch(lim.pattern, value):
        raise Invalid("bad_format", f"{name} has characters that are not allowed", field=name)

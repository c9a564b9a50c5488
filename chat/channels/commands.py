"""Conversation commands: frozen inputs with their limits.

They hold what a client sends in a request body or a frame. The conversation
or user a command applies to (a path parameter in the REST API) is a separate
argument of the action, so a body can never redirect it.

Names go through ``chat.channels.names.clean_name`` before their limits are
checked: NFKC, whitespace collapsed, no bidi controls or invisible characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chat.channels.names import clean_name
from chat.validation import Checked, limits

NAME_MAX = 60
DESCRIPTION_MAX = 1000
DIRECT_MAX_MEMBERS = 8  # including the caller
NAME_PATTERN = r"[^\x00-\x1f\x7f]+"  # no control characters (whitespace is normalised first)


@dataclass(frozen=True)
class CreateConversation(Checked):
    """Create a public channel or a private group; the creator becomes its first member."""

    kind: Literal["public", "private"]
    name: str = field(
        metadata=limits(
            strip=True,
            min_len=1,
            max_len=NAME_MAX,
            pattern=NAME_PATTERN,
            description="1-60 characters, whitespace normalised, no control characters",
        )
    )
    description: str = field(default="", metadata=limits(max_len=DESCRIPTION_MAX))

    def __post_init__(self) -> None:
        _clean_name_field(self)
        super().__post_init__()


@dataclass(frozen=True)
class UpdateConversation(Checked):
    """Change a conversation's name, description, archived state, owner or default flag (absent fields stay)."""

    name: str | None = field(
        default=None, metadata=limits(strip=True, min_len=1, max_len=NAME_MAX, pattern=NAME_PATTERN)
    )
    description: str | None = field(default=None, metadata=limits(max_len=DESCRIPTION_MAX))
    archived: bool | None = None
    owner_id: int | None = field(default=None, metadata=limits(minimum=1, description="hand the conversation over"))
    is_default: bool | None = None  # admins, public channels: new users join it

    def __post_init__(self) -> None:
        _clean_name_field(self)
        super().__post_init__()


def _clean_name_field(cmd: CreateConversation | UpdateConversation) -> None:
    if isinstance(cmd.name, str):
        object.__setattr__(cmd, "name", clean_name(cmd.name, "name"))


@dataclass(frozen=True)
class OpenDirect(Checked):
    """Open the direct conversation with these people (the caller is always included)."""

    user_ids: list[int] = field(
        metadata=limits(
            max_items=DIRECT_MAX_MEMBERS,
            description="up to 8 people including the caller; [] opens a conversation with yourself",
        )
    )


@dataclass(frozen=True)
class AddMember(Checked):
    """Join a conversation yourself (your own id) or add someone else."""

    user_id: int = field(metadata=limits(minimum=1))


@dataclass(frozen=True)
class SetStar(Checked):
    """Star or unstar a conversation (a per-member favourite)."""

    starred: bool

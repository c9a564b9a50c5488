"""Who may see and do what: the only place that decides access.

Pure functions over already-loaded facts (the actor, the conversation's kind
and state, whether the actor is a member), so the whole policy is one
truth table (``tests/channels/test_policy.py``). ``access_conversation``
loads a conversation for an action and raises ``NotFound``, never
``Forbidden``, when the actor may not even know it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "moderator", "member", "guest"]
Kind = Literal["public", "private", "direct"]
Action = Literal["view", "join", "post", "invite", "remove", "rename", "archive", "star", "list_members"]

ROLES: tuple[Role, ...] = ("admin", "moderator", "member", "guest")
KINDS: tuple[Kind, ...] = ("public", "private", "direct")


@dataclass(frozen=True)
class Actor:
    """The authenticated user behind a request, a socket or a CLI command."""

    id: int
    username: str
    display_name: str
    role: Role
    is_bot: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "moderator")

    @property
    def is_guest(self) -> bool:
        return self.role == "guest"

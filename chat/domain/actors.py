"""Who acts: the authenticated user behind a request, a socket or a CLI command, and the roles.

A leaf of the domain: accounts and channels both import it, neither owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "moderator", "member", "guest"]
ROLES: tuple[Role, ...] = ("admin", "moderator", "member", "guest")


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

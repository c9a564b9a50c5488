"""Account commands: frozen inputs with their limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.validation import Checked, limits

USERNAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{1,39}"


@dataclass(frozen=True)
class Register(Checked):
    """Create an account (open registration, or with an invitation code)."""

    username: str = field(metadata=limits(min_len=2, max_len=40, pattern=USERNAME_PATTERN))
    password: str = field(metadata=limits(max_len=256))
    display_name: str | None = field(default=None, metadata=limits(strip=True, min_len=1, max_len=80))
    invite: str | None = field(default=None, metadata=limits(max_len=128))

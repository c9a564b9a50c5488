"""Account commands: frozen inputs with their limits.

Passwords are checked for length before anything else looks at them, so an
over-long password is refused (422 ``password_too_long``) before any hashing
work; the HTTP layer already refuses bodies over 64 KiB (413). Display names
go through ``chat.channels.names.clean_name`` (NFKC, no bidi controls or
invisible characters) before their limits are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chat.accounts.passwords import MAX_LENGTH, MIN_LENGTH, check_new_password
from chat.channels.names import clean_name
from chat.errors import Invalid
from chat.validation import Checked, limits

USERNAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{1,39}"
EMAIL_PATTERN = r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+"

_NEW_PASSWORD = limits(min_len=MIN_LENGTH, max_len=MAX_LENGTH, description=f"{MIN_LENGTH} to {MAX_LENGTH} characters")
_DISPLAY_NAME = limits(strip=True, min_len=1, max_len=80)


@dataclass(frozen=True)
class Register(Checked):
    """Create an account (open registration, or with an invitation code)."""

    username: str = field(metadata=limits(min_len=2, max_len=40, pattern=USERNAME_PATTERN))
    password: str = field(metadata=_NEW_PASSWORD)
    display_name: str | None = field(default=None, metadata=_DISPLAY_NAME)
    invite: str | None = field(default=None, metadata=limits(min_len=1, max_len=128))
    setup_token: str | None = field(default=None, metadata=limits(min_len=1, max_len=128))  # the first account

    def __post_init__(self) -> None:
        check_new_password(self.password)
        _clean_display_name(self)
        super().__post_init__()


@dataclass(frozen=True)
class Login(Checked):
    """Start a browser session."""

    username: str = field(metadata=limits(strip=True, min_len=1, max_len=40))
    password: str = field(metadata=limits(min_len=1, max_len=MAX_LENGTH))


@dataclass(frozen=True)
class UpdateMe(Checked):
    """Change your own display name or password (the password needs the current one)."""

    display_name: str | None = field(default=None, metadata=_DISPLAY_NAME)
    password: str | None = field(default=None, metadata=_NEW_PASSWORD)
    current_password: str | None = field(default=None, metadata=limits(max_len=MAX_LENGTH))

    def __post_init__(self) -> None:
        if self.password is not None:
            check_new_password(self.password)
            if self.current_password is None:
                raise Invalid(
                    "missing_field", "current_password is required to change the password", field="current_password"
                )
        elif self.current_password is not None:
            raise Invalid("missing_field", "password (the new one) is missing", field="password")
        if self.display_name is None and self.password is None:
            raise Invalid("nothing_to_change", "give display_name or password")
        _clean_display_name(self)
        super().__post_init__()


@dataclass(frozen=True)
class CreateToken(Checked):
    """A personal access token for scripts and bots (``Authorization: Bearer <token>``)."""

    name: str = field(metadata=limits(strip=True, min_len=1, max_len=80))


@dataclass(frozen=True)
class CreateInvitation(Checked):
    """An invitation code to register: a member, or a guest who joins only the listed conversations.

    ``single_use`` (the default): one account; false: a link anyone holding it may use until it
    expires or is revoked."""

    role: Literal["member", "guest"]
    conversation_ids: tuple[int, ...] = field(default=(), metadata=limits(max_items=50))
    email: str | None = field(default=None, metadata=limits(max_len=254, pattern=EMAIL_PATTERN))
    expires_in_days: int = field(default=7, metadata=limits(minimum=1, maximum=90))
    single_use: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.role == "guest" and not self.conversation_ids:
            raise Invalid(
                "guest_needs_conversations",
                "a guest invitation names at least one conversation",
                field="conversation_ids",
            )
        if any(not 0 < cid < 2**63 for cid in self.conversation_ids):
            raise Invalid("out_of_range", "conversation_ids must be positive ids", field="conversation_ids")
        if len(set(self.conversation_ids)) != len(self.conversation_ids):
            raise Invalid("duplicate_ids", "conversation_ids has duplicates", field="conversation_ids")


@dataclass(frozen=True)
class UpdateUser(Checked):
    """Admin: change one user's role, or (de)activate the account; one change per request."""

    role: Literal["admin", "moderator", "member", "guest"] | None = None
    active: bool | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("role", "active") if getattr(self, name) is not None]
        if not given:
            raise Invalid("nothing_to_change", "give role or active")
        if len(given) > 1:
            raise Invalid("one_change_at_a_time", "change the role and the active flag in separate requests")
        super().__post_init__()


@dataclass(frozen=True)
class NewBot(Checked):
    """A bot account (``POST /api/v1/bots``, CLI ``chat create-bot``); ``owner_id``: you when left out."""

    username: str = field(metadata=limits(min_len=2, max_len=40, pattern=USERNAME_PATTERN))
    display_name: str | None = field(default=None, metadata=_DISPLAY_NAME)
    owner_id: int | None = field(default=None, metadata=limits(minimum=1))

    def __post_init__(self) -> None:
        _clean_display_name(self)
        super().__post_init__()


def _clean_display_name(cmd: Register | UpdateMe | NewBot) -> None:
    if isinstance(cmd.display_name, str):
        object.__setattr__(cmd, "display_name", clean_name(cmd.display_name, "display_name"))

"""Account results: frozen plain data, serialised by ``chat.web.schema.to_json``.

Secrets (session cookies, tokens, invitation codes) appear only in the result
of the call that creates them, and are never stored or logged in clear.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from chat.accounts.notification_prefs import do_not_disturb_until
from chat.store import models


@dataclass(frozen=True)
class UserInfo:
    """A user as the directory shows it."""

    id: int
    username: str
    display_name: str
    role: str
    is_bot: bool
    active: bool

    @classmethod
    def of(cls, user: models.User) -> UserInfo:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            is_bot=user.is_bot,
            active=user.active,
        )


@dataclass(frozen=True)
class DirectoryUser(UserInfo):
    """A user as others see them in the directory.

    ``do_not_disturb_until``: while the user has paused notifications or is in their quiet hours,
    when that ends (others show a do-not-disturb mark until then); null otherwise. Computed when
    read: a quiet-hours window that starts later shows on the next read."""

    do_not_disturb_until: datetime | None = None
    # an outside sender who wrote to a channel's mail address (``chat.mail.targets``): a guest
    # account without a password, shown with an "external" mark
    external: bool = False

    @classmethod
    def listed(cls, user: models.User, *, now: datetime) -> DirectoryUser:
        info = UserInfo.of(user)
        return cls(
            **{f.name: getattr(info, f.name) for f in fields(UserInfo)},
            do_not_disturb_until=do_not_disturb_until(user.notification_settings, now),
            external=bool((user.preferences or {}).get("external_mail")),
        )


@dataclass(frozen=True)
class UserList:
    users: list[DirectoryUser]


@dataclass(frozen=True)
class SessionInfo:
    """The logged-in user and when the session cookie expires."""

    user: UserInfo
    expires_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """A token without its secret: ``prefix`` is enough to recognise it."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenCreated:
    """A new token; ``token`` is shown this once and never again."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    token: str


@dataclass(frozen=True)
class TokenList:
    tokens: list[TokenInfo]


@dataclass(frozen=True)
class InvitationCreated:
    """A new invitation; ``code`` is shown this once (pass it as ``invite`` when registering),
    and so is ``link``, the registration page with the code filled in."""

    id: int
    role: str
    conversation_ids: list[int]
    email: str | None
    expires_at: datetime
    single_use: bool
    code: str
    link: str


@dataclass(frozen=True)
class InvitationInfo:
    """An invitation as its creator and the admins see it: never the code.

    ``status``: ``active`` (may still be used), ``used`` (a single-use one was), ``expired``, ``revoked``."""

    id: int
    role: str
    conversation_ids: list[int]
    email: str | None
    created_by: int
    created_by_username: str
    created_at: datetime
    expires_at: datetime
    single_use: bool
    use_count: int
    used_at: datetime | None
    revoked_at: datetime | None
    status: str


@dataclass(frozen=True)
class InvitationList:
    invitations: list[InvitationInfo]


@dataclass(frozen=True)
class BotCreated:
    """A new bot account and its first token, shown once."""

    user: UserInfo
    owner_id: int
    token: str

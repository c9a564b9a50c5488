"""Workspace settings as admins read and change them (``GET`` / ``PATCH /api/v1/settings``).

The values live in ``chat.store.workspace`` (stored rows over the ``CHAT_*``
defaults); this module owns who may read and change them (``policy.can_administer``),
what a valid value is (:class:`UpdateSettings`), and the one event a change writes:
``workspace.settings_changed`` on the system chain, audience ``staff``, with
``{"changes": {key: {"old", "new"}}}`` for the keys whose value changed. A PATCH
that changes nothing writes no event. ``registration_mode`` ``domains`` (addresses at
``allowed_domains`` register without an invitation, and sign in once their address is
proved) needs a mail relay: 422 ``email_verification_unavailable`` without ``CHAT_SMTP_URL``.

Readers never cache: every action that depends on a setting loads the settings in
force in its own transaction (``chat.store.workspace.load``), so a change takes
effect on the next request, in every server process, without a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.meetings import new_meeting_url
from chat.channels.policy import can_administer
from chat.config import Settings
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Forbidden, Invalid
from chat.store import workspace
from chat.validation import Checked, limits

WINDOW_MAX_S = 366 * 86400  # an edit or delete window of at most a year
RETENTION_MAX_DAYS = 36500
DOMAINS_MAX = 50
URL_MAX = 200
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@dataclass(frozen=True)
class WorkspaceSettings:
    """The workspace settings in force (stored values over the ``CHAT_*`` defaults)."""

    registration_mode: Literal["open", "invite", "domains", "closed"]
    allowed_domains: list[str]
    channel_creation: Literal["members", "admins"]
    invite_policy: Literal["members", "admins"]
    edit_window_s: int
    delete_window_s: int
    meeting_base_url: str
    retention_days: int


@dataclass(frozen=True)
class UpdateSettings(Checked):
    """Change workspace settings: any of them, at least one; absent ones stay as they are.

    ``registration_mode`` ``domains`` is refused (``email_verification_unavailable``)
    on a server without a mail relay (``CHAT_SMTP_URL``): the addresses could not be proved.
    """

    registration_mode: Literal["open", "invite", "domains", "closed"] | None = None
    allowed_domains: list[str] | None = field(
        default=None, metadata=limits(max_items=DOMAINS_MAX, description="e-mail domains, e.g. example.com")
    )
    channel_creation: Literal["members", "admins"] | None = None
    invite_policy: Literal["members", "admins"] | None = None
    edit_window_s: int | None = field(default=None, metadata=limits(minimum=0, maximum=WINDOW_MAX_S))
    delete_window_s: int | None = field(default=None, metadata=limits(minimum=0, maximum=WINDOW_MAX_S))
    meeting_base_url: str | None = field(
        default=None, metadata=limits(max_len=URL_MAX, description="https:// base URL of a Jitsi server")
    )
    retention_days: int | None = field(default=None, metadata=limits(minimum=0, maximum=RETENTION_MAX_DAYS))

    def __post_init__(self) -> None:
        super().__post_init__()
        if all(getattr(self, f.name) is None for f in fields(self)):
            raise Invalid("nothing_to_change", "give at least one setting")
        if self.allowed_domains is not None:
            domains = [d.strip().lower().removeprefix("@") for d in self.allowed_domains]
            for domain in domains:
                if not _DOMAIN.fullmatch(domain):
                    raise Invalid("bad_format", f"{domain!r} is not a domain name", field="allowed_domains")
            object.__setattr__(self, "allowed_domains", sorted(set(domains)))
        if self.meeting_base_url is not None:
            _check_meeting_base(self.meeting_base_url)

    def changes(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _check_meeting_base(url: str) -> None:
    bad = Invalid("bad_url", "meeting_base_url must be an https:// URL without user, query or fragment")
    if not url.startswith("https://") or any(c in url for c in "?#@ "):
        raise bad
    try:
        new_meeting_url(url)
    except ValueError:
        raise bad from None


def _require_admin(actor: Actor) -> None:
    if not can_administer(actor):
        raise Forbidden("admin_required", "only administrators may do this")


def _info(ws: workspace.Workspace) -> WorkspaceSettings:
    return WorkspaceSettings(**ws.as_dict())


async def get_settings(session: AsyncSession, actor: Actor, defaults: Settings) -> WorkspaceSettings:
    _require_admin(actor)
    return _info(await workspace.load(session, defaults))


async def update_settings(
    session: AsyncSession, actor: Actor, cmd: UpdateSettings, defaults: Settings
) -> WorkspaceSettings:
    """Store the settings that differ from those in force and log them in one event."""
    _require_admin(actor)
    if cmd.registration_mode == "domains" and not defaults.smtp_url:
        raise Invalid(
            "email_verification_unavailable",
            "registration by e-mail domain needs a mail relay (CHAT_SMTP_URL) to confirm the addresses",
            field="registration_mode",
        )
    current = (await workspace.load(session, defaults)).as_dict()
    changed = {key: value for key, value in cmd.changes().items() if current[key] != value}
    if changed:
        await workspace.save(session, changed, by=actor.id)
        await append_event(
            session,
            kind="workspace.settings_changed",
            actor_id=actor.id,
            data={"changes": {key: {"old": current[key], "new": value} for key, value in changed.items()}},
            audience="admins",
        )
    return _info(await workspace.load(session, defaults))

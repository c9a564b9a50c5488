"""Workspace settings an admin changes at run time, stored in ``workspace_settings``.

The ``CHAT_*`` variables (``chat.config.Settings``) give each one its initial
value; a row in ``workspace_settings`` overrides it from then on. Every reader
asks :func:`load` when it needs a value (registration, invitations, channel
creation, edits, ``/meet``, the retention purge): one small indexed read, so a
change made by any server process takes effect at once everywhere, without a
restart and without a cache to invalidate. None of these readers is on the
hot path of posting a message.

Values are validated by whoever writes them (the settings API's command);
:func:`load` still ignores a stored value of the wrong type, so a hand-edited
row cannot stop the server.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.config import ChannelCreation, InvitePolicy, RegistrationMode, Settings
from chat.store import models


@dataclass(frozen=True, slots=True)
class Workspace:
    """The settings in force."""

    registration_mode: RegistrationMode  # open | invite | domains | closed
    allowed_domains: tuple[str, ...]  # registration_mode "domains": addresses at these domains may register
    channel_creation: ChannelCreation  # who may create channels and groups: members | admins
    invite_policy: InvitePolicy  # who may invite to private groups and create member invitations: members | admins
    edit_window_s: int  # an author may edit for this long after posting; 0: no limit
    delete_window_s: int  # an author may delete for this long after posting; 0: no limit
    meeting_base_url: str  # where /meet creates rooms (Jitsi-compatible)
    retention_days: int  # messages older than this are purged; 0: kept forever

    @classmethod
    def defaults(cls, settings: Settings) -> Workspace:
        return cls(
            registration_mode=settings.registration_mode,
            allowed_domains=settings.allowed_domains,
            channel_creation=settings.channel_creation,
            invite_policy=settings.invite_policy,
            edit_window_s=settings.edit_window_s,
            delete_window_s=settings.delete_window_s,
            meeting_base_url=settings.meeting_base_url,
            retention_days=settings.retention_days,
        )

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["allowed_domains"] = list(self.allowed_domains)
        return out


_KINDS: dict[str, type] = {
    "registration_mode": str,
    "allowed_domains": list,
    "channel_creation": str,
    "invite_policy": str,
    "edit_window_s": int,
    "delete_window_s": int,
    "meeting_base_url": str,
    "retention_days": int,
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "registration_mode": get_args(RegistrationMode),
    "channel_creation": get_args(ChannelCreation),
    "invite_policy": get_args(InvitePolicy),
}


async def load(session: AsyncSession, settings: Settings) -> Workspace:
    """The settings in force: stored values over the ``CHAT_*`` defaults."""
    rows = (await session.execute(select(models.WorkspaceSetting.key, models.WorkspaceSetting.value))).all()
    stored: dict[str, Any] = {}
    for key, value in rows:
        kind = _KINDS.get(key)
        if kind is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            continue
        if key in _CHOICES and value not in _CHOICES[key]:
            continue
        stored[key] = tuple(cast(list[Any], value)) if kind is list else value
    return dataclasses.replace(Workspace.defaults(settings), **stored)


async def save(session: AsyncSession, changes: dict[str, Any], *, by: int | None) -> None:
    """Store validated ``changes`` (keys of :class:`Workspace`); the caller commits and logs the event."""
    unknown = set(changes) - set(_KINDS)
    if unknown:
        raise KeyError(f"not workspace settings: {sorted(unknown)}")
    now = datetime.now(UTC)
    for key, value in changes.items():
        stored = list(value) if isinstance(value, tuple) else value
        row = await session.get(models.WorkspaceSetting, key)
        if row is None:
            session.add(models.WorkspaceSetting(key=key, value=stored, updated_at=now, updated_by=by))
        else:
            row.value = stored
            row.updated_at = now
            row.updated_by = by
    await session.flush()

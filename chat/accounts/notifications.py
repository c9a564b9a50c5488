"""A user's own notification settings: reading and changing them (``/api/v1/me/notifications``).

What the settings mean and how they are checked is ``chat.accounts.notification_prefs``;
this module is the action around it: it loads the user's row and their explicit
per-conversation levels (``memberships.notify``), applies a patch, and writes the events.

Order in :func:`update_notifications`: every part of the patch is checked first (the settings
by ``apply_patch``, then each conversation level, then that the user is a member of each
conversation named, ``conversation_not_found`` as everywhere else); only then is anything
written, so a refused patch changes nothing. Events, when something changed:

* ``user.notifications_changed`` (``audience="subject"``): the new settings, so the user's
  other tabs follow.
* ``user.do_not_disturb`` (``audience="everyone"``, subject the user) when the moment the user
  may be interrupted again (``quiet_until`` now, pause or quiet hours) changed:
  ``{"user_id", "until"}``, so others show or hide the mark at once. A quiet-hours window that
  begins later is no event: others see it when they next read the directory.

Never commits; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.notification_prefs import LEVELS, apply_patch, load, quiet_until
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Invalid, NotFound, Unauthorized
from chat.store import models
from chat.validation import INT64_MAX, to_json

DEFAULT_LEVELS = {"direct": "all", "channel": "mentions"}  # without a choice (conversation_level)
MAX_LEVELS_PER_PATCH = 500
_SETTINGS_FIELDS = frozenset({"email_delay_s", "email_missed", "digest", "push", "quiet_hours", "paused_until"})


@dataclass(frozen=True)
class DigestSettings:
    """The daily digest: ``mode`` ``off`` or ``daily``, sent at ``hour`` (0-23) in ``time_zone``."""

    mode: str
    hour: int
    time_zone: str


@dataclass(frozen=True)
class QuietHoursSettings:
    """Days a window starts on (Monday = 0), ``start`` and ``end`` as HH:MM in ``time_zone``."""

    days: list[int]
    start: str
    end: str
    time_zone: str


@dataclass(frozen=True)
class NotificationSettings:
    """A user's notification settings. ``conversations``: the levels chosen per conversation id
    (the others follow ``defaults``); ``do_not_disturb_until``: when the current pause or
    quiet-hours window ends, null when the user may be interrupted now."""

    email_delay_s: int
    email_missed: bool
    digest: DigestSettings
    push: bool
    quiet_hours: QuietHoursSettings | None
    paused_until: datetime | None
    conversations: dict[str, str]
    defaults: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    do_not_disturb_until: datetime | None = None


async def get_notifications(
    session: AsyncSession, actor: Actor, *, now: datetime | None = None
) -> NotificationSettings:
    """The actor's settings in force, with their explicit per-conversation levels."""
    user = await _user(session, actor)
    return await _settings(session, user, now or datetime.now(UTC))


async def update_notifications(
    session: AsyncSession, actor: Actor, patch: Any, *, now: datetime | None = None
) -> NotificationSettings:
    """Apply ``patch`` (any of the settings and/or ``conversations``: ``{id: level | null}``)."""
    now = now or datetime.now(UTC)
    if not isinstance(patch, dict):
        raise Invalid("invalid_notifications", "the body must be a JSON object")
    user = await _user(session, actor, lock=True)
    settings_patch = {k: v for k, v in patch.items() if k != "conversations"}
    unknown = set(settings_patch) - _SETTINGS_FIELDS
    if unknown:
        raise Invalid("invalid_notifications", f"unknown field {sorted(unknown)[0]!r}")
    before = load(user.notification_settings)
    stored = apply_patch(user.notification_settings, settings_patch, now=now) if settings_patch else None
    levels = _levels(patch.get("conversations", {}))
    current = await _chosen_levels(session, actor.id, list(levels))
    missing = set(levels) - set(current)
    if missing:
        raise NotFound("conversation_not_found", "there is no such conversation", conversation=min(missing))
    changed_levels = {cid: level for cid, level in levels.items() if current[cid] != level}
    changed = stored is not None and stored != before.as_dict()
    if changed:
        user.notification_settings = stored or {}
    for cid, level in changed_levels.items():
        await session.execute(
            update(models.Membership)
            .where(models.Membership.user_id == actor.id, models.Membership.conversation_id == cid)
            .values(notify=level)
        )
    await session.flush()
    result = await _settings(session, user, now)
    if changed or changed_levels:
        await append_event(
            session,
            kind="user.notifications_changed",
            actor_id=actor.id,
            subject_id=actor.id,
            audience="subject",
            data={"user_id": actor.id, "notifications": _plain(result)},
        )
    if quiet_until(before, now) != result.do_not_disturb_until:
        until = result.do_not_disturb_until
        await append_event(
            session,
            kind="user.do_not_disturb",
            actor_id=actor.id,
            subject_id=actor.id,
            audience="everyone",
            data={"user_id": actor.id, "until": until.isoformat() if until is not None else None},
        )
    return result


# --- helpers ------------------------------------------------------------------------------------


async def _user(session: AsyncSession, actor: Actor, *, lock: bool = False) -> models.User:
    user = await session.get(models.User, actor.id, with_for_update=lock or None, populate_existing=lock)
    if user is None:  # pragma: no cover - the actor was loaded from this row a moment ago
        raise Unauthorized("not_authenticated")
    return user


def _levels(raw: Any) -> dict[int, str | None]:
    """``{"<conversation id>": level | null}`` checked; ids as integers."""
    if not isinstance(raw, dict):
        raise Invalid("invalid_notifications", 'conversations is an object: {"<conversation id>": level or null}')
    if len(raw) > MAX_LEVELS_PER_PATCH:
        raise Invalid("invalid_notifications", f"at most {MAX_LEVELS_PER_PATCH} conversations at a time")
    levels: dict[int, str | None] = {}
    for key, level in raw.items():
        if not (key.isascii() and key.isdigit() and len(key) <= 19 and 0 < int(key) <= INT64_MAX):
            raise Invalid("invalid_notifications", f"{key[:40]!r} is not a conversation id")
        if level is not None and level not in LEVELS:
            raise Invalid("invalid_notify_level", "a conversation's level is all, mentions, nothing or null (default)")
        levels[int(key)] = level
    return levels


async def _chosen_levels(session: AsyncSession, user_id: int, ids: list[int]) -> dict[int, str | None]:
    """The user's memberships among ``ids`` and the level chosen in each."""
    if not ids:
        return {}
    m = models.Membership
    query = select(m.conversation_id, m.notify).where(m.user_id == user_id, m.conversation_id.in_(ids))
    return {int(cid): notify for cid, notify in (await session.execute(query)).all()}


async def _settings(session: AsyncSession, user: models.User, now: datetime) -> NotificationSettings:
    prefs = load(user.notification_settings)
    m = models.Membership
    rows = await session.execute(select(m.conversation_id, m.notify).where(m.user_id == user.id, m.notify.in_(LEVELS)))
    quiet = prefs.quiet_hours
    return NotificationSettings(
        email_delay_s=prefs.email_delay_s,
        email_missed=prefs.email_missed,
        digest=DigestSettings(prefs.digest_mode, prefs.digest_hour, prefs.digest_time_zone),
        push=prefs.push,
        quiet_hours=QuietHoursSettings(**quiet.as_dict()) if quiet is not None else None,
        paused_until=prefs.paused_until,
        conversations={str(cid): str(level) for cid, level in sorted(rows.all())},
        do_not_disturb_until=quiet_until(prefs, now),
    )


def _plain(settings: NotificationSettings) -> dict[str, Any]:
    plain: dict[str, Any] = to_json(settings)
    return plain

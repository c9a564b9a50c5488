"""A user's notification settings: what reaches them away from the tab, and when.

Stored in ``users.notification_settings`` (JSON; absent keys take the defaults) and,
per conversation, in ``memberships.notify``. ``GET/PATCH /api/v1/me/notifications``
reads and changes them through :func:`apply_patch`; the notifier (``chat.mail``)
and push delivery (``chat.push``) ask :func:`quiet_until` before interrupting anyone.

Keys (all optional in a PATCH):

* ``email_delay_s``: a message still unread this long after it arrived is mailed (1 … 7 days).
* ``email_missed``: mail about missed mentions, DMs and ``all`` conversations (a
  ``List-Unsubscribe`` one-click turns it off).
* ``digest``: ``{"mode": "off" | "daily", "hour": 0-23, "time_zone": IANA name}``.
* ``push``: push notifications to this user's subscribed browsers.
* ``quiet_hours``: ``null`` or ``{"days": [0-6, Monday = 0], "start": "HH:MM", "end": "HH:MM",
  "time_zone": IANA name}``; a window whose end is before its start runs past midnight and
  belongs to the day it starts on.
* ``paused_until``: ``null`` or an ISO 8601 instant (do not disturb until then; at most a year ahead).

Per conversation, ``all`` / ``mentions`` / ``nothing``; without a choice, DMs are ``all``
and channels and groups ``mentions``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chat.errors import Invalid

LEVELS = ("all", "mentions", "nothing")
DIGEST_MODES = ("off", "daily")
MAX_EMAIL_DELAY_S = 7 * 24 * 3600
MAX_PAUSE = timedelta(days=366)
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class QuietHours:
    days: tuple[int, ...]  # the days a window starts on, Monday = 0
    start: time
    end: time
    time_zone: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": list(self.days),
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "time_zone": self.time_zone,
        }


@dataclass(frozen=True, slots=True)
class Prefs:
    email_delay_s: int = 600
    email_missed: bool = True
    digest_mode: str = "off"
    digest_hour: int = 8
    digest_time_zone: str = "UTC"
    push: bool = True
    quiet_hours: QuietHours | None = None
    paused_until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "email_delay_s": self.email_delay_s,
            "email_missed": self.email_missed,
            "digest": {"mode": self.digest_mode, "hour": self.digest_hour, "time_zone": self.digest_time_zone},
            "push": self.push,
            "quiet_hours": self.quiet_hours.as_dict() if self.quiet_hours is not None else None,
            "paused_until": self.paused_until.isoformat() if self.paused_until is not None else None,
        }


def load(stored: dict[str, Any] | None) -> Prefs:
    """The settings in force for a stored JSON value (defaults for what is absent or unreadable)."""
    try:
        return _parse(stored or {}, Prefs(), now=None)
    except Invalid:
        return Prefs()  # a hand-edited row never stops notifications for good


def apply_patch(stored: dict[str, Any] | None, patch: Any, *, now: datetime) -> dict[str, Any]:
    """The JSON to store after ``patch`` (raises ``Invalid`` with a precise code; nothing changes then)."""
    if not isinstance(patch, dict):
        raise Invalid("invalid_notifications", "the body must be a JSON object")
    unknown = set(patch) - {"email_delay_s", "email_missed", "digest", "push", "quiet_hours", "paused_until"}
    if unknown:
        raise Invalid("invalid_notifications", f"unknown field {sorted(unknown)[0]!r}")
    return _parse(patch, load(stored), now=now).as_dict()


def conversation_level(chosen: str | None, kind: str) -> str:
    """A conversation's level for a member: their choice, else ``all`` for DMs, ``mentions`` otherwise."""
    if chosen in LEVELS:
        return chosen
    return "all" if kind == "direct" else "mentions"


def quiet_until(prefs: Prefs, now: datetime) -> datetime | None:
    """When the current pause or quiet-hours window ends, or None if the user may be interrupted now."""
    ends: list[datetime] = []
    if prefs.paused_until is not None and prefs.paused_until > now:
        ends.append(prefs.paused_until)
    window = _current_window(prefs.quiet_hours, now)
    if window is not None:
        ends.append(window)
    return max(ends) if ends else None


def digest_due(prefs: Prefs, last_sent: datetime | None, now: datetime) -> bool:
    """Whether today's digest (in the user's time zone) is due: past its hour and not sent today."""
    if prefs.digest_mode != "daily":
        return False
    local = now.astimezone(_zone(prefs.digest_time_zone))
    if local.hour < prefs.digest_hour:
        return False
    today_at = local.replace(hour=prefs.digest_hour, minute=0, second=0, microsecond=0)
    return last_sent is None or last_sent < today_at


# --- parsing ------------------------------------------------------------------------------------


def _parse(data: dict[str, Any], base: Prefs, *, now: datetime | None) -> Prefs:
    values: dict[str, Any] = {}
    if "email_delay_s" in data:
        delay = data["email_delay_s"]
        if not _is_int(delay) or not (1 <= delay <= MAX_EMAIL_DELAY_S):
            raise Invalid("invalid_email_delay", f"email_delay_s must be a whole number from 1 to {MAX_EMAIL_DELAY_S}")
        values["email_delay_s"] = delay
    for flag in ("email_missed", "push"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise Invalid("invalid_notifications", f"{flag} must be true or false")
            values[flag] = data[flag]
    if "digest" in data:
        values.update(_digest(data["digest"], base))
    if "quiet_hours" in data:
        values["quiet_hours"] = None if data["quiet_hours"] is None else _quiet_hours(data["quiet_hours"])
    if "paused_until" in data:
        values["paused_until"] = _paused_until(data["paused_until"], now)
    return Prefs(**{**_fields(base), **values})


def _digest(raw: Any, base: Prefs) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - {"mode", "hour", "time_zone"}:
        raise Invalid("invalid_digest", 'digest is {"mode": "off" | "daily", "hour": 0-23, "time_zone": "Area/City"}')
    mode = raw.get("mode", base.digest_mode)
    hour = raw.get("hour", base.digest_hour)
    zone = raw.get("time_zone", base.digest_time_zone)
    if mode not in DIGEST_MODES:
        raise Invalid("invalid_digest", "digest mode must be off or daily")
    if not _is_int(hour) or not (0 <= hour <= 23):
        raise Invalid("invalid_digest", "digest hour must be a whole number from 0 to 23")
    _zone(zone)
    return {"digest_mode": mode, "digest_hour": hour, "digest_time_zone": zone}


def _quiet_hours(raw: Any) -> QuietHours:
    if not isinstance(raw, dict) or set(raw) != {"days", "start", "end", "time_zone"}:
        raise Invalid("invalid_quiet_hours", "quiet_hours is null or has exactly days, start, end and time_zone")
    days = raw["days"]
    if not isinstance(days, list) or not all(_is_int(d) and 0 <= d <= 6 for d in days) or len(set(days)) != len(days):
        raise Invalid("invalid_quiet_hours", "days is a list of distinct day numbers, Monday = 0 … Sunday = 6")
    start, end = (_hhmm(raw[key], key) for key in ("start", "end"))
    if start == end:
        raise Invalid("invalid_quiet_hours", "start and end must differ")
    _zone(raw["time_zone"])
    return QuietHours(tuple(sorted(days)), start, end, raw["time_zone"])


def _paused_until(raw: Any, now: datetime | None) -> datetime | None:
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise Invalid("invalid_paused_until", "paused_until is null or an ISO 8601 instant with its offset")
    when = when.astimezone(UTC)
    if now is not None and not (when > now and when - now <= MAX_PAUSE):
        raise Invalid("invalid_paused_until", "paused_until must be in the future, at most a year ahead")
    return when


def _hhmm(raw: Any, name: str) -> time:
    match = _HHMM.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise Invalid("invalid_quiet_hours", f"{name} must be HH:MM (24-hour clock)")
    return time(int(match.group(1)), int(match.group(2)))


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise Invalid("invalid_time_zone", "time_zone must be an IANA time zone name, e.g. Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("invalid_time_zone", f"unknown time zone {name!r}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fields(prefs: Prefs) -> dict[str, Any]:
    return {name: getattr(prefs, name) for name in Prefs.__slots__}


def _current_window(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """The end of the quiet-hours window ``now`` falls in, if any."""
    if quiet is None or not quiet.days:
        return None
    zone = _zone(quiet.time_zone)
    local = now.astimezone(zone)
    for back in (0, 1):  # a window that started today, or yesterday and runs past midnight
        day = (local - timedelta(days=back)).date()
        if day.weekday() not in quiet.days:
            continue
        start = datetime.combine(day, quiet.start, tzinfo=zone)
        end_day = day if quiet.end > quiet.start else day + timedelta(days=1)
        end = datetime.combine(end_day, quiet.end, tzinfo=zone)
        if start <= local < end:
            return end.astimezone(UTC)
    return None


def do_not_disturb_until(stored: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When the user stored as ``stored`` may be interrupted again (pause or quiet hours), or None:
    what others see next to their name, computed when it is read."""
    return quiet_until(load(stored), now)

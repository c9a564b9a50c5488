"""Notification settings: validation of a PATCH, defaults, quiet hours and digests in the user's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chat.accounts.notification_prefs import apply_patch, conversation_level, digest_due, load, quiet_until
from chat.errors import Invalid

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday
WEEKNIGHTS = {"days": [0, 1, 2, 3, 4], "start": "18:00", "end": "08:00", "time_zone": "Europe/Paris"}


def test_absent_settings_take_the_defaults() -> None:
    prefs = load({})
    assert prefs.as_dict() == {
        "email_delay_s": 600,
        "email_missed": True,
        "digest": {"mode": "off", "hour": 8, "time_zone": "UTC"},
        "push": True,
        "quiet_hours": None,
        "paused_until": None,
    }
    assert load({"email_delay_s": "soon"}) == load({})  # an unreadable stored value never stops notifications


def test_a_patch_changes_only_what_it_names() -> None:
    stored = apply_patch({}, {"email_delay_s": 1, "digest": {"mode": "daily"}}, now=NOW)
    stored = apply_patch(stored, {"digest": {"hour": 7, "time_zone": "America/New_York"}}, now=NOW)
    assert stored["email_delay_s"] == 1
    assert stored["digest"] == {"mode": "daily", "hour": 7, "time_zone": "America/New_York"}
    assert load(stored).as_dict() == stored


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ({"email_delay_s": 0}, "invalid_email_delay"),
        ({"email_delay_s": True}, "invalid_email_delay"),
        ({"email_delay_s": 8 * 24 * 3600}, "invalid_email_delay"),
        ({"push": "yes"}, "invalid_notifications"),
        ({"colour": "red"}, "invalid_notifications"),
        ({"digest": {"mode": "weekly"}}, "invalid_digest"),
        ({"digest": {"hour": 24}}, "invalid_digest"),
        ({"digest": {"time_zone": "Mars/Olympus"}}, "invalid_time_zone"),
        ({"quiet_hours": {**WEEKNIGHTS, "start": "25:00"}}, "invalid_quiet_hours"),
        ({"quiet_hours": {**WEEKNIGHTS, "days": [7]}}, "invalid_quiet_hours"),
        ({"quiet_hours": {**WEEKNIGHTS, "days": [1, 1]}}, "invalid_quiet_hours"),
        ({"quiet_hours": {**WEEKNIGHTS, "end": "18:00"}}, "invalid_quiet_hours"),
        ({"quiet_hours": {"days": [0]}}, "invalid_quiet_hours"),
        ({"paused_until": "tomorrow"}, "invalid_paused_until"),
        ({"paused_until": "2026-12-07T13:00:00"}, "invalid_paused_until"),  # no offset
        ({"paused_until": "2026-12-07T11:00:00+00:00"}, "invalid_paused_until"),  # past
        ({"paused_until": "2028-12-07T11:00:00+00:00"}, "invalid_paused_until"),  # over a year
    ],
)
def test_bad_settings_are_refused_with_a_code(patch: dict[str, object], code: str) -> None:
    with pytest.raises(Invalid) as refused:
        apply_patch({}, patch, now=NOW)
    assert refused.value.code == code


def test_quiet_hours_run_past_midnight_in_the_users_time_zone() -> None:
    prefs = load(apply_patch({}, {"quiet_hours": WEEKNIGHTS}, now=NOW))
    assert quiet_until(prefs, datetime(2026, 12, 7, 16, 59, tzinfo=UTC)) is None  # Monday 17:59 in Paris
    monday_night = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
    assert quiet_until(prefs, monday_night) == datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # Tuesday 08:00 in Paris
    assert quiet_until(prefs, datetime(2026, 12, 12, 6, 0, tzinfo=UTC)) == datetime(2026, 12, 12, 7, 0, tzinfo=UTC)
    assert quiet_until(prefs, datetime(2026, 12, 13, 6, 0, tzinfo=UTC)) is None  # Saturday night is not quiet


def test_a_pause_ends_when_it_says_and_outlasts_quiet_hours() -> None:
    until = NOW + timedelta(hours=1)
    prefs = load(apply_patch({}, {"paused_until": until.isoformat()}, now=NOW))
    assert quiet_until(prefs, NOW) == until
    assert quiet_until(prefs, until) is None
    cleared = load(apply_patch(prefs.as_dict(), {"paused_until": None}, now=NOW))
    assert quiet_until(cleared, NOW) is None


def test_the_daily_digest_is_due_once_per_local_day_after_its_hour() -> None:
    prefs = load(apply_patch({}, {"digest": {"mode": "daily", "hour": 8, "time_zone": "Asia/Tokyo"}}, now=NOW))
    before = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)  # 07:30 in Tokyo
    after = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 08:30 in Tokyo
    assert not digest_due(prefs, None, before)
    assert digest_due(prefs, None, after)
    assert not digest_due(prefs, after, after + timedelta(hours=3))
    assert digest_due(prefs, after, after + timedelta(days=1))
    assert not digest_due(load({}), None, after)  # off by default


def test_conversation_levels_default_by_kind() -> None:
    assert conversation_level(None, "direct") == "all"
    assert conversation_level(None, "public") == "mentions"
    assert conversation_level("nothing", "direct") == "nothing"
    assert conversation_level("loud", "private") == "mentions"

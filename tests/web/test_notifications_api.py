"""``GET/PATCH /api/v1/me/notifications``: every field, every refusal (nothing changed), levels only
for one's own conversations, the do-not-disturb mark others read in the directory, and the events
with their recipients (over real sockets on a live server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from starlette.applications import Starlette

from chat.accounts.notification_prefs import load
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, direct, events_of
from tests.conftest import Live
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.socket_support import Barrier, Connector, connector, kinds

URL = "/api/v1/me/notifications"


def soon(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0).isoformat()


async def settings_of(client: httpx2.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get(URL, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def dnd_in_directory(client: httpx2.AsyncClient, headers: dict[str, str], user_id: int) -> str | None:
    r = await client.get("/api/v1/users", headers=headers)
    assert r.status_code == 200, r.text
    (user,) = [u for u in r.json()["users"] if u["id"] == user_id]
    until: str | None = user["do_not_disturb_until"]
    return until


async def test_the_defaults(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    bob = await as_user(client, app, cast.bob)
    # the stored defaults (tests/accounts/test_notification_prefs.py), and what the API adds to them
    assert await settings_of(client, bob) == {
        **load({}).as_dict(),
        "conversations": {},
        "defaults": {"direct": "all", "channel": "mentions"},
        "do_not_disturb_until": None,
    }


async def test_every_field_is_changed_and_kept(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    dm = await direct(db, cast.bob, cast.carol)
    bob = await as_user(client, app, cast.bob)
    until = soon(hours=1)
    quiet = {"days": [5, 6], "start": "22:00", "end": "07:30", "time_zone": "Europe/Paris"}
    change = {
        "email_delay_s": 60,
        "email_missed": False,
        "digest": {"mode": "daily", "hour": 7, "time_zone": "America/New_York"},
        "push": False,
        "quiet_hours": quiet,
        "paused_until": until,
        "conversations": {str(sales): "all", str(dm): "nothing"},
    }
    r = await client.patch(URL, json=change, headers=bob)
    assert r.status_code == 200, r.text
    answered = r.json()
    assert answered == await settings_of(client, bob)
    expected_until = datetime.fromisoformat(until)
    plain = {k: v for k, v in change.items() if k != "paused_until"}
    assert {k: answered[k] for k in plain} == plain
    assert datetime.fromisoformat(answered["paused_until"]) == expected_until
    assert datetime.fromisoformat(answered["do_not_disturb_until"]) >= expected_until  # a pause, maybe quiet hours too

    # partial: one digest field, back to the default level, resume, no quiet hours
    r = await client.patch(
        URL, json={"digest": {"hour": 18}, "conversations": {str(dm): None}, "paused_until": None}, headers=bob
    )
    assert r.status_code == 200, r.text
    now = r.json()
    assert now["digest"] == {"mode": "daily", "hour": 18, "time_zone": "America/New_York"}
    assert now["conversations"] == {str(sales): "all"}
    assert now["paused_until"] is None and now["email_delay_s"] == 60 and now["quiet_hours"] == quiet
    r = await client.patch(URL, json={"quiet_hours": None}, headers=bob)
    assert r.json()["quiet_hours"] is None


def quiet(**fields: object) -> dict[str, object]:
    return {"quiet_hours": {"days": [1], "start": "22:00", "end": "07:00", "time_zone": "UTC", **fields}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([1, 2], "invalid_notifications"),
        ({"sound": True}, "invalid_notifications"),
        ({"push": "yes"}, "invalid_notifications"),
        ({"email_missed": 1}, "invalid_notifications"),
        ({"email_delay_s": 0}, "invalid_email_delay"),
        ({"email_delay_s": 7 * 24 * 3600 + 1}, "invalid_email_delay"),
        ({"email_delay_s": True}, "invalid_email_delay"),
        ({"email_delay_s": "600"}, "invalid_email_delay"),
        ({"digest": {"mode": "weekly"}}, "invalid_digest"),
        ({"digest": {"hour": 24}}, "invalid_digest"),
        ({"digest": {"hour": 8, "minute": 0}}, "invalid_digest"),
        ({"digest": "daily"}, "invalid_digest"),
        ({"digest": {"time_zone": "Mars/Olympus"}}, "invalid_time_zone"),
        ({"quiet_hours": {"days": [0], "start": "22:00", "end": "07:00"}}, "invalid_quiet_hours"),
        (quiet(days=[7]), "invalid_quiet_hours"),
        (quiet(days=[1, 1]), "invalid_quiet_hours"),
        (quiet(days="weekdays"), "invalid_quiet_hours"),
        (quiet(start="24:00"), "invalid_quiet_hours"),
        (quiet(start="7:00"), "invalid_quiet_hours"),
        (quiet(start="07:00", end="07:00"), "invalid_quiet_hours"),
        (quiet(time_zone="Nowhere"), "invalid_time_zone"),
        (quiet(time_zone="a\u0000b"), "invalid_time_zone"),
        (quiet(time_zone="../../etc/passwd"), "invalid_time_zone"),
        ({"paused_until": "tomorrow"}, "invalid_paused_until"),
        ({"paused_until": "2030-01-01T10:00:00"}, "invalid_paused_until"),  # no offset
        ({"paused_until": "2001-01-01T10:00:00+00:00"}, "invalid_paused_until"),  # past
        ({"paused_until": "2999-01-01T10:00:00+00:00"}, "invalid_paused_until"),  # more than a year
        ({"paused_until": 1700000000}, "invalid_paused_until"),
        ({"conversations": [1]}, "invalid_notifications"),
        ({"conversations": {"general": "all"}}, "invalid_notifications"),
        ({"conversations": {"-1": "all"}}, "invalid_notifications"),
        ({"conversations": {"99999999999999999999999": "all"}}, "invalid_notifications"),
        ({"conversations": {str(i): "all" for i in range(1, 502)}}, "invalid_notifications"),
    ],
)
async def test_a_refused_change_says_why_and_changes_nothing(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, body: object, code: str
) -> None:
    bob = await as_user(client, app, cast.bob)
    r = await client.patch(URL, json={"email_delay_s": 120}, headers=bob)
    assert r.status_code == 200, r.text
    before, rows = await settings_of(client, bob), await counts(db)
    # a valid change next to the bad one is not applied either
    if isinstance(body, dict):
        body = {"email_missed": False, **body} if "email_missed" not in body else body
    r = await client.patch(URL, json=body, headers=bob)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert await settings_of(client, bob) == before
    assert await counts(db) == rows


async def test_a_level_is_for_a_conversation_one_is_in(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    public_not_joined = await channel(db, cast.alice, "news")
    secret = await channel(db, cast.alice, "secret", kind="private", members=[cast.carol])
    bob = await as_user(client, app, cast.bob)
    rows = await counts(db)
    for cid in (public_not_joined, secret, 987654):
        r = await client.patch(URL, json={"conversations": {str(sales): "all", str(cid): "all"}}, headers=bob)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "conversation_not_found"
    r = await client.patch(URL, json={"conversations": {str(sales): "loud"}}, headers=bob)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_notify_level")
    assert await counts(db) == rows
    assert (await settings_of(client, bob))["conversations"] == {}
    # carol's choice is hers: bob's list shows only his own
    carol = await as_user(client, app, cast.carol)
    assert (await client.patch(URL, json={"conversations": {str(secret): "nothing"}}, headers=carol)).status_code == 200
    assert (await settings_of(client, bob))["conversations"] == {}
    assert (await settings_of(client, carol))["conversations"] == {str(secret): "nothing"}


async def test_guests_and_bots_have_settings_too(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> None:
    for actor in (cast.gus, cast.robot):
        headers = await as_user(client, app, actor)
        r = await client.patch(URL, json={"paused_until": soon(minutes=30), "push": False}, headers=headers)
        assert r.status_code == 200, r.text
        assert (await settings_of(client, headers))["push"] is False


async def test_without_a_credential_nothing_is_read_or_changed(client: httpx2.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.patch(URL, json={"push": False})).status_code == 401


async def test_others_see_a_pause_and_quiet_hours_in_the_directory(
    client: httpx2.AsyncClient, app: Starlette, cast: Cast
) -> None:
    bob, carol = [await as_user(client, app, u) for u in (cast.bob, cast.carol)]
    assert await dnd_in_directory(client, carol, cast.bob.id) is None
    until = soon(hours=2)
    await client.patch(URL, json={"paused_until": until}, headers=bob)
    seen = await dnd_in_directory(client, carol, cast.bob.id)
    assert seen is not None and datetime.fromisoformat(seen) == datetime.fromisoformat(until)
    await client.patch(URL, json={"paused_until": None}, headers=bob)
    assert await dnd_in_directory(client, carol, cast.bob.id) is None

    # quiet hours around now (in Tokyo): others see when they end; the schedule itself is not shown
    local = datetime.now(ZoneInfo("Asia/Tokyo"))
    start, end = (local - timedelta(hours=1)), (local + timedelta(hours=2))
    quiet = {
        "days": [start.weekday()],
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
        "time_zone": "Asia/Tokyo",
    }
    assert (await client.patch(URL, json={"quiet_hours": quiet}, headers=bob)).status_code == 200
    seen = await dnd_in_directory(client, carol, cast.bob.id)
    assert seen is not None
    assert datetime.fromisoformat(seen) == end.replace(second=0, microsecond=0)
    r = await client.get("/api/v1/users", headers=carol)
    assert "quiet_hours" not in next(u for u in r.json()["users"] if u["id"] == cast.bob.id)


# --- events and their recipients (real sockets) ----------------------------------------------------

EVERYONE = ("alice", "maya", "bob", "carol", "gus")


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


async def test_events_reach_the_user_and_everyone_sees_the_mark(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    everyone = await channel(
        db, cast.alice, "everyone", kind="private", members=[cast.maya, cast.bob, cast.carol, cast.gus]
    )
    peers = {name: await connect(getattr(cast, name)) for name in EVERYONE}
    barrier = Barrier(db, everyone, cast.alice)
    async with httpx2.AsyncClient(base_url=live.base_url) as client:
        bob = await as_user(client, live.app, cast.bob)

        async def patch(body: dict[str, Any]) -> None:
            r = await client.patch(URL, json=body, headers=bob)
            assert r.status_code == 200, r.text

        async def observe(body: dict[str, Any]) -> dict[str, list[tuple[str, int | None]]]:
            got = await barrier.observe(peers.values(), lambda: patch(body))
            return {name: kinds(events) for name, events in got.items()}

        mine = ("user.notifications_changed", None)
        mark = ("user.do_not_disturb", None)
        # a setting others cannot see: only bob's own tabs hear of it
        got = await observe({"email_delay_s": 300, "conversations": {str(sales): "nothing"}})
        assert got == {"alice": [], "maya": [], "bob": [mine], "carol": [], "gus": []}
        changed = peers["bob"].events()[-2]["data"]["notifications"]
        assert changed["email_delay_s"] == 300 and changed["conversations"] == {str(sales): "nothing"}

        # a pause: everyone but guests sees the mark at once
        until = soon(hours=1)
        got = await observe({"paused_until": until})
        assert got == {"alice": [mark], "maya": [mark], "bob": [mine, mark], "carol": [mark], "gus": []}
        told = peers["carol"].events()[-2]
        assert told["data"]["user_id"] == cast.bob.id
        assert datetime.fromisoformat(told["data"]["until"]) == datetime.fromisoformat(until)

        # the same pause again changes nothing: no event
        got = await observe({"paused_until": until})
        assert got == {name: [] for name in EVERYONE}

        # resume: the mark goes
        got = await observe({"paused_until": None})
        assert got == {"alice": [mark], "maya": [mark], "bob": [mine, mark], "carol": [mark], "gus": []}
        assert peers["alice"].events()[-2]["data"] == {"user_id": cast.bob.id, "until": None}

    async with db.read() as s:
        assert [e.kind for e in await events_of(s, "user.do_not_disturb")] == ["user.do_not_disturb"] * 2

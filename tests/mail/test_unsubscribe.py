"""One-click unsubscribe (RFC 8058) through the real routes, from a real mail's header."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx2
import pytest
from sqlalchemy import func, select

from chat.accounts.notification_prefs import load
from chat.config import Settings
from chat.mail.notifier import pending_count
from chat.mail.unsubscribe import make_token, unsubscribe_key
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import direct, post
from tests.factories import Cast
from tests.mail.notify_support import notifier_for, settings, sink, started, verify
from tests.mail.smtpd import SmtpSink

__all__ = ["settings", "sink"]  # fixtures

ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


async def _prefs(db: Database, user_id: int) -> tuple[bool, str]:
    async with db.read() as s:
        user = await s.get(models.User, user_id)
    assert user is not None
    prefs = load(user.notification_settings)
    return prefs.email_missed, prefs.digest_mode


async def _events(db: Database, kind: str) -> list[models.Event]:
    async with db.read() as s:
        return list((await s.scalars(select(models.Event).where(models.Event.kind == kind))).all())


async def test_the_one_click_post_from_the_header_turns_missed_mail_off(
    db: Database, cast: Cast, settings: Settings, sink: SmtpSink, client: httpx2.AsyncClient
) -> None:
    notifier = await started(notifier_for(db, settings))
    await verify(db, cast.bob)
    dm = await direct(db, cast.alice, cast.bob)
    msg = await post(db, cast.alice, dm, "hello", topic="")
    await notifier.run_once(now=msg.created_at + timedelta(seconds=601))
    [got] = await sink.wait_for(1)
    header = got.message["List-Unsubscribe"]
    assert header.startswith("<https://") and got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = urlsplit(header.strip("<>"))
    target = f"{url.path}?{url.query}"

    page = await client.get(target)  # a link scanner or a person: a page with a button, nothing changes
    assert page.status_code == 200 and 'method="post"' in page.text and url.query in page.text
    assert await _prefs(db, cast.bob.id) == (True, "off") and await _events(db, "user.notifications_changed") == []

    done = await client.post(target, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)  # no cookie, no CSRF
    assert done.status_code == 200 and 'data-state="done"' in done.text
    assert await _prefs(db, cast.bob.id) == (False, "off")
    [event] = await _events(db, "user.notifications_changed")
    assert (event.subject_id, event.audience, event.payload["notifications"]["email_missed"]) == (
        cast.bob.id,
        "subject",
        False,
    )
    again = await client.post(target, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert again.status_code == 200 and len(await _events(db, "user.notifications_changed")) == 1  # no change

    later = await post(db, cast.alice, dm, "still there?", topic="")
    await notifier.run_once(now=later.created_at + timedelta(seconds=601))
    assert len(sink.messages) == 1 and await pending_count(db) == 0


async def test_a_digest_token_turns_the_digest_off(db: Database, cast: Cast, client: httpx2.AsyncClient) -> None:
    async with db.transaction() as s:
        user = await s.get(models.User, cast.bob.id)
        assert user is not None
        user.notification_settings = {"digest": {"mode": "daily", "hour": 8, "time_zone": "UTC"}}
    token = make_token(await unsubscribe_key(db), cast.bob.id, "digest")
    done = await client.post(f"/unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert done.status_code == 200
    assert await _prefs(db, cast.bob.id) == (True, "off")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_forged_token_is_refused_and_changes_nothing(
    db: Database, cast: Cast, client: httpx2.AsyncClient, method: str
) -> None:
    key = await unsubscribe_key(db)
    good = make_token(key, cast.bob.id, "missed")
    user, kind, signature = good.split(".")
    forged = [
        f"{user}.{kind}.{'0' * 32}",
        f"{cast.carol.id}.{kind}.{signature}",  # someone else's id with bob's signature
        f"{user}.digest.{signature}",  # another kind
        make_token(b"not the server's key", cast.bob.id, "missed"),
        "",
        "garbage",
    ]
    if method == "POST":  # the page of a GET asks nothing of the database; the POST finds nobody
        forged.append(make_token(key, 999_999, "missed"))
    async with db.read() as s:
        events_before = await s.scalar(select(func.count()).select_from(models.Event))
    for token in forged:
        response = await client.request(method, f"/unsubscribe?token={token}", content=b"", headers=ONE_CLICK)
        assert response.status_code == 400, token
        assert 'data-code="bad_unsubscribe_token"' in response.text
    assert await _prefs(db, cast.bob.id) == (True, "off")
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(models.Event)) == events_before

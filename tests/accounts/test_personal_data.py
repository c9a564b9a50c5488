"""A person takes their data with them; an admin erases someone's data and the log still verifies."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select, update
from starlette.applications import Starlette

from chat.accounts.erasure import erase_user
from chat.accounts.sessions import ClientInfo, Credentials, start_session
from chat.archive.audit import verify_log
from chat.archive.replay import replay_log
from chat.channels.legal_hold import SetRetention, set_conversation_retention
from chat.channels.message_commands import EditMessage, SetTopicVisibility, UpdateTopic
from chat.channels.messages import edit_message, react
from chat.channels.retention import utc_now
from chat.channels.topics import set_topic_visibility, update_topic
from chat.errors import ChatError
from chat.store import models
from chat.store.db import Database
from tests.accounts.helpers import counts, events_after, last_event_id, set_registration_mode
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.test_pages import ORIGIN, log_in


async def bob_s_history(db: Database, cast: Cast) -> dict[str, int]:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    dm = await direct(db, cast.bob, cast.carol)
    mine = await post(db, cast.bob, general, "my first words", topic="plans")
    async with db.transaction() as s:
        await edit_message(s, cast.bob, mine.id, EditMessage(body="my edited words"))
        await react(s, cast.bob, mine.id, "👍")
        await set_topic_visibility(s, cast.bob, general, "plans", SetTopicVisibility(mode="followed"))
    private = await post(db, cast.bob, dm, "a secret", topic="")
    theirs = await post(db, cast.carol, general, "carol's words", topic="plans")
    async with db.transaction() as s:
        await start_session(s, Credentials(user_id=cast.bob.id), days=30, client=ClientInfo("10.0.0.7", "Firefox"))
        bob = await s.get(models.User, cast.bob.id)
        assert bob is not None
        bob.email, bob.email_key, bob.email_verified_at = "bob@example.com", "bob@example.com", utc_now()
        bob.notification_settings = {"email_delay_s": 60}
        for owner, endpoint in (
            (cast.bob.id, "https://push.example.com/bob"),
            (cast.carol.id, "https://push.example.com/c"),
        ):
            s.add(models.PushSubscription(user_id=owner, endpoint=endpoint, p256dh="k", auth="a", user_agent="Phone"))
        s.add(
            models.PendingNotification(
                user_id=cast.bob.id,
                conversation_id=dm,
                first_message_id=theirs.id,
                last_message_id=theirs.id,
                due_at=utc_now(),
            )
        )
        s.add(
            models.EmailConfirmation(
                token_hash="0" * 64, user_id=cast.bob.id, email="new@example.com", expires_at=utc_now()
            )
        )
    return {"general": general, "dm": dm, "mine": mine.id, "private": private.id, "theirs": theirs.id}


def unzip(content: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: json.loads(zf.read(name)) for name in zf.namelist()}


async def test_export_holds_my_data_and_nothing_else(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    ids = await bob_s_history(db, cast)
    headers = await as_user(client, app, cast.bob)
    before = await last_event_id(db)
    response = await client.get("/api/v1/me/export", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="salon-bob-')
    files = unzip(response.content)
    assert sorted(files) == [
        "manifest.json",
        "memberships.json",
        "messages.json",
        "profile.json",
        "push_devices.json",
        "reactions.json",
        "read_markers.json",
        "sessions.json",
        "tokens.json",
        "topic_states.json",
    ]
    assert files["profile.json"]["username"] == "bob" and "password_hash" not in files["profile.json"]
    assert files["profile.json"]["email"] == "bob@example.com" and files["profile.json"]["email_verified_at"]
    assert files["profile.json"]["notification_settings"] == {"email_delay_s": 60}
    (device,) = files["push_devices.json"]  # carol's is hers
    assert device["endpoint"] == "https://push.example.com/bob" and "p256dh" not in device and "auth" not in device
    messages = {m["id"]: m for m in files["messages.json"]}
    assert sorted(messages) == sorted([ids["mine"], ids["private"]])  # carol's message is hers
    assert [r["body"] for r in messages[ids["mine"]]["revisions"]] == ["my first words", "my edited words"]
    assert files["reactions.json"] == [
        {"message": ids["mine"], "emoji": "👍", "created_at": files["reactions.json"][0]["created_at"]}
    ]
    assert sorted(m["conversation"] for m in files["memberships.json"]) == sorted([ids["general"], ids["dm"]])
    assert files["topic_states.json"] == [{"conversation": ids["general"], "topic_key": "plans", "mode": "followed"}]
    (token,) = files["tokens.json"]
    assert set(token) == {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"}  # no secret, no hash
    (login,) = files["sessions.json"]
    assert (login["address"], login["user_agent"]) == ("10.0.0.7", "Firefox") and "id" not in login
    assert files["manifest.json"]["files"]["messages.json"] == 2
    raw = response.content.decode("latin-1")
    assert "carol's words" not in raw
    (event,) = await events_after(db, before)
    assert (event.kind, event.chain, event.audience, event.subject_id) == (
        "user.data_exported",
        "system",
        "subject",
        cast.bob.id,
    )


async def test_export_needs_a_login_and_refuses_other_sites(client: httpx2.AsyncClient, cast: Cast) -> None:
    assert (await client.get("/api/v1/me/export")).status_code == 401
    await log_in(client, "bob")
    cross = await client.get("/api/v1/me/export", headers={"Sec-Fetch-Site": "cross-site"})
    assert (cross.status_code, cross.json()["error"]["code"]) == (403, "csrf_failed")
    same = await client.get("/api/v1/me/export", headers={"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN})
    assert same.status_code == 200


async def test_erasure_redacts_pseudonymises_and_closes_the_account(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    ids = await bob_s_history(db, cast)
    bob_headers = await as_user(client, app, cast.bob)
    headers = await as_user(client, app, cast.alice)
    before = await last_event_id(db)
    response = await client.post(f"/api/v1/users/{cast.bob.id}/erase", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": cast.bob.id,
        "username": f"erased-{cast.bob.id}",
        "messages_redacted": 2,
        "messages_kept": 0,
        "memberships_removed": 2,
        "sessions_ended": 1,
        "tokens_revoked": 1,
    }
    async with db.read() as s:
        bob = await s.get(models.User, cast.bob.id)
        assert bob is not None
        assert (bob.username, bob.display_name, bob.email, bob.password_hash, bob.preferences, bob.active) == (
            f"erased-{cast.bob.id}",
            "Former user",
            None,
            None,
            {},
            False,
        )
        assert bob.erased_at is not None
        for message_id in (ids["mine"], ids["private"]):
            message = await s.get(models.Message, message_id)
            assert message is not None and (message.body, message.author_id) == ("", cast.bob.id)
            assert message.redacted_at is not None
        theirs = await s.get(models.Message, ids["theirs"])
        assert theirs is not None and theirs.body == "carol's words"
        assert await s.scalar(select(func.count()).select_from(models.Reaction)) == 1  # reactions stay
        assert (bob.email_key, bob.email_verified_at, bob.notification_settings) == (None, None, {})
        for model in (
            models.Membership,
            models.WebSession,
            models.TopicState,
            models.PushSubscription,
            models.PendingNotification,
            models.EmailConfirmation,
        ):
            assert await s.scalar(select(func.count()).select_from(model).where(model.user_id == cast.bob.id)) == 0
        assert await s.scalar(select(func.count()).select_from(models.PushSubscription)) == 1  # carol's stays
        assert await s.scalar(select(func.count()).where(models.Event.body.like("%my edited words%"))) == 0
        audit, replay = await verify_log(s), await replay_log(s)
    assert audit.ok and replay.ok, replay.differences
    kinds = [(e.kind, e.chain) for e in await events_after(db, before)]
    assert kinds == [
        ("user.deactivated", "system"),
        ("messages.redacted", f"c{ids['general']}"),
        ("messages.redacted", f"c{ids['dm']}"),
        ("member.removed", f"c{ids['general']}"),
        ("member.removed", f"c{ids['dm']}"),
        ("user.updated", "system"),
        ("user.erased", "system"),
    ]
    assert (await client.get("/api/v1/me", headers=bob_headers)).status_code == 401  # the token is gone


async def test_erasure_is_for_admins_never_oneself_nor_under_hold(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    before = await counts(db)
    maya = await as_user(client, app, cast.maya)
    alice = await as_user(client, app, cast.alice)
    after_tokens = await counts(db)
    denied = await client.post(f"/api/v1/users/{cast.bob.id}/erase", headers=maya)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "admin_required")
    itself = await client.post(f"/api/v1/users/{cast.alice.id}/erase", headers=alice)
    assert (itself.status_code, itself.json()["error"]["code"]) == (403, "cannot_erase_self")
    missing = await client.post("/api/v1/users/999999/erase", headers=alice)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "user_not_found")
    assert await counts(db) == after_tokens and after_tokens["events"] == before["events"] + 2

    hold = await client.put(f"/api/v1/users/{cast.bob.id}/legal-hold", json={"on": True}, headers=alice)
    assert hold.status_code == 200 and hold.json() == {"user": cast.bob.id, "legal_hold": True, "changed": True}
    held = await counts(db)
    refused = await client.post(f"/api/v1/users/{cast.bob.id}/erase", headers=alice)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "user_on_legal_hold")
    assert await counts(db) == held
    async with db.read() as s:
        bob = await s.get(models.User, cast.bob.id)
        assert bob is not None and bob.active and bob.username == "bob"

    await client.put(f"/api/v1/users/{cast.bob.id}/legal-hold", json={"on": False}, headers=alice)
    assert (await client.post(f"/api/v1/users/{cast.bob.id}/erase", headers=alice)).status_code == 200
    again = await client.post(f"/api/v1/users/{cast.bob.id}/erase", headers=alice)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_erased")


async def test_a_held_conversation_keeps_the_erased_user_s_words(db: Database, cast: Cast) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    board = await channel(db, cast.alice, "board", kind="private", members=[cast.bob])
    gone = await post(db, cast.bob, general, "ordinary", topic="t")
    kept = await post(db, cast.bob, board, "evidence", topic="t")
    async with db.transaction() as s:
        await set_conversation_retention(
            s, cast.alice, board, SetRetention(days=None, legal_hold=True), workspace_days=0
        )
    result = await erase_user(db.write, cast.alice, cast.bob.id, now=utc_now(), batch_size=1)
    assert (result.messages_redacted, result.messages_kept) == (1, 1)
    async with db.read() as s:
        assert (await s.get(models.Message, gone.id)).body == ""  # type: ignore[union-attr]
        assert (await s.get(models.Message, kept.id)).body == "evidence"  # type: ignore[union-attr]
        assert (await verify_log(s)).ok and (await replay_log(s)).ok


async def test_the_last_admin_cannot_be_erased(db: Database, cast: Cast) -> None:
    """An admin deactivated a moment ago (their request already past authentication) cannot erase the last one."""
    async with db.transaction() as s:
        await s.execute(update(models.User).where(models.User.id == cast.bob.id).values(role="admin", active=False))
    stale = replace(cast.bob, role="admin")
    with pytest.raises(ChatError) as refused:
        await erase_user(db.write, stale, cast.alice.id, now=utc_now())
    assert refused.value.code == "last_admin"
    async with db.read() as s:
        alice = await s.get(models.User, cast.alice.id)
        assert alice is not None and alice.active and alice.erased_at is None


async def test_a_message_moved_out_of_sight_is_exported_without_its_place(
    app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    general = await channel(db, cast.maya, "general", members=[cast.bob])
    hidden = await channel(db, cast.maya, "staff room", kind="private")
    message = await post(db, cast.bob, general, "moved away", topic="secret plans")
    async with db.transaction() as s:
        await update_topic(s, cast.maya, general, UpdateTopic(topic="secret plans", move_to_conversation=hidden))
    response = await client.get("/api/v1/me/export", headers=await as_user(client, app, cast.bob))
    (exported,) = unzip(response.content)["messages.json"]
    assert (exported["id"], exported["body"], exported["conversation"], exported["topic"]) == (
        message.id,
        "moved away",
        None,
        None,
    )
    assert [(r["conversation"], r["topic"]) for r in exported["revisions"]] == [(general, "secret plans"), (None, None)]


async def test_nobody_registers_an_erased_pseudonym(client: httpx2.AsyncClient, cast: Cast, db: Database) -> None:
    await set_registration_mode(db, "open")
    response = await client.post(
        "/api/v1/users", json={"username": "erased-99", "password": "long-enough-pw"}, headers={"Origin": ORIGIN}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (422, "username_reserved")

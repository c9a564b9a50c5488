"""Reports (issue 11, point 2): filing, the queue and its window of context, every resolution and its effect.

The cast: alice (admin), maya (moderator), bob and carol (members), gus (guest).
Resolutions go through ``chat.accounts.moderation.resolve_report``, the action
behind ``POST /api/v1/reports/{id}/resolve``; the system DM's words are the web
layer's (``outcome_notice``), used here as the API uses them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from chat.accounts.moderation import SYSTEM_USERNAME, resolve_report
from chat.channels import policy
from chat.channels.history import get_message, list_messages
from chat.channels.message_commands import EditMessage
from chat.channels.messages import edit_message
from chat.channels.policy import access_conversation
from chat.channels.reports import FileReport, ReportList, ResolveReport, file_report, list_reports
from chat.domain.actors import ROLES, Actor, Role
from chat.errors import ChatError, Conflict, Forbidden, Invalid, NotFound
from chat.store import models
from chat.store.db import Database
from chat.web.api.reports import outcome_notice
from tests.channels.messaging_support import channel, direct, post
from tests.factories import Cast


async def report(db: Database, actor: Actor, message_id: int, reason: str = "spam", lang: str = "en") -> int:
    async with db.transaction() as s:
        return (await file_report(s, actor, message_id, FileReport(reason=reason), lang=lang)).id


async def resolve(db: Database, actor: Actor, report_id: int, action: str, note: str = "", **kw: int) -> None:
    cmd = ResolveReport(action=action, note=note, **kw)  # type: ignore[arg-type]
    async with db.transaction() as s:
        await resolve_report(s, actor, report_id, cmd, notice=outcome_notice)


async def queue(db: Database, actor: Actor, status: str = "open") -> ReportList:
    async with db.read() as s:
        return await list_reports(s, actor, status=status)  # type: ignore[arg-type]


async def rows(db: Database, model: type[models.Base]) -> list[object]:
    async with db.read() as s:
        return list((await s.scalars(select(model))).all())


async def kinds(db: Database) -> list[tuple[str, str]]:
    async with db.read() as s:
        found = await s.execute(select(models.Event.kind, models.Event.chain).order_by(models.Event.id))
        return [(k, c) for k, c in found.all()]


async def system_dms(db: Database, reporter: Actor) -> list[str]:
    """The bodies of the messages the ``salon`` account sent to ``reporter``."""
    async with db.read() as s:
        system = await s.scalar(select(models.User.id).where(models.User.username == SYSTEM_USERNAME))
        if system is None:
            return []
        key = ",".join(str(i) for i in sorted({system, reporter.id}))
        found = await s.scalars(
            select(models.Message.body)
            .join(models.Conversation, models.Conversation.id == models.Message.conversation_id)
            .where(models.Conversation.direct_key == key, models.Message.author_id == system)
            .order_by(models.Message.id)
        )
        return list(found.all())


async def topic_of_seven(db: Database, cast: Cast, *, kind: str = "public") -> tuple[int, list[int]]:
    """A conversation where bob wrote seven messages in "Q3" (and one elsewhere); returns their ids."""
    conv = await channel(db, cast.alice, "deal", kind=kind, members=[cast.bob, cast.carol])
    ids = []
    for i in range(7):
        ids.append((await post(db, cast.bob, conv, f"m{i}", topic="Q3")).id)
        if i == 3:
            await post(db, cast.carol, conv, "elsewhere", topic="Other")
    return conv, ids


# --- filing -----------------------------------------------------------------------------------


async def test_a_member_reports_a_message_and_staff_are_told(db: Database, cast: Cast) -> None:
    _conv, ids = await topic_of_seven(db, cast)
    rid = await report(db, cast.carol, ids[3], "  rude   words ")
    (stored,) = await rows(db, models.Report)
    assert (stored.reporter_id, stored.message_id, stored.reason, stored.resolved_at) == (  # type: ignore[attr-defined]
        cast.carol.id,
        ids[3],
        "rude words",
        None,
    )
    async with db.read() as s:
        event = await s.scalar(select(models.Event).where(models.Event.kind == "report.filed"))
    assert event is not None and (event.chain, event.audience, event.subject_id) == ("system", "staff", None)
    assert event.payload["report_id"] == rid and event.payload["reason"] == "rude words"


async def test_refused_reports_change_nothing(db: Database, cast: Cast) -> None:
    _conv, ids = await topic_of_seven(db, cast)
    group = await channel(db, cast.alice, "secret", kind="private", members=[cast.bob])
    hidden = await post(db, cast.bob, group, "psst", topic="x")
    await report(db, cast.carol, ids[0])
    before = (await rows(db, models.Report), await kinds(db))
    refused: list[tuple[str, type[ChatError]]] = []
    for actor, message_id in ((cast.bob, ids[0]), (cast.carol, hidden.id), (cast.carol, ids[0]), (cast.carol, 10**9)):
        with pytest.raises(ChatError) as caught:
            await report(db, actor, message_id)
        refused.append((caught.value.code, type(caught.value)))
    assert refused == [
        ("own_message", Forbidden),
        ("message_not_found", NotFound),
        ("already_reported", Conflict),
        ("message_not_found", NotFound),
    ]
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(Invalid):
            FileReport(reason=reason)
    assert (len(await rows(db, models.Report)), await kinds(db)) == (len(before[0]), before[1])


async def test_a_deleted_message_cannot_be_reported(db: Database, cast: Cast) -> None:
    _conv, ids = await topic_of_seven(db, cast)
    rid = await report(db, cast.carol, ids[1])
    await resolve(db, cast.maya, rid, "delete", note="gone")
    with pytest.raises(Conflict) as caught:
        await report(db, cast.alice, ids[1])
    assert caught.value.code == "message_deleted"


# --- the queue --------------------------------------------------------------------------------


async def test_members_cannot_list_and_staff_see_the_window(db: Database, cast: Cast) -> None:
    _conv, ids = await topic_of_seven(db, cast)
    rid = await report(db, cast.carol, ids[3])
    edge = await report(db, cast.carol, ids[0])
    for actor in (cast.bob, cast.gus):
        with pytest.raises(Forbidden) as caught:
            await queue(db, actor)
        assert caught.value.code == "staff_required"
    for actor in (cast.maya, cast.alice):
        page = await queue(db, actor)
        assert [r.id for r in page.reports] == [edge, rid]  # newest first
        by_id = {r.id: r for r in page.reports}
        assert [m.id for m in by_id[rid].context] == ids[1:6]  # two on each side, in the topic only
        assert [m.id for m in by_id[edge].context] == ids[0:3]
        assert {u.username for u in page.users} == {"bob", "carol"}
        assert (by_id[rid].place.name, by_id[rid].place.topic, by_id[rid].reason) == ("deal", "Q3", "spam")
    assert (await queue(db, cast.maya, "resolved")).reports == []


async def test_a_moderator_sees_five_messages_of_a_private_group_and_nothing_else(db: Database, cast: Cast) -> None:
    group, ids = await topic_of_seven(db, cast, kind="private")
    rid = await report(db, cast.carol, ids[3])
    (shown,) = (await queue(db, cast.maya)).reports
    assert shown.id == rid and [m.body for m in shown.context] == ["m1", "m2", "m3", "m4", "m5"]
    async with db.read() as s:
        for read in (
            access_conversation(s, cast.maya, group),
            list_messages(s, cast.maya, group),
            get_message(s, cast.maya, ids[0]),
            get_message(s, cast.maya, ids[3]),
        ):
            with pytest.raises(NotFound):
                await read


# --- resolving: every action and its effect ------------------------------------------------------


async def test_dismiss_changes_nothing_but_the_report_and_tells_the_reporter(db: Database, cast: Cast) -> None:
    _conv, ids = await topic_of_seven(db, cast)
    rid = await report(db, cast.carol, ids[2], lang="fr")
    await resolve(db, cast.maya, rid, "dismiss", note="pas grave")
    (stored,) = await rows(db, models.Report)
    assert (stored.action, stored.resolved_by, stored.note) == ("dismiss", cast.maya.id, "pas grave")  # type: ignore[attr-defined]
    async with db.read() as s:
        assert (await get_message(s, cast.bob, ids[2])).deleted is None
    (dm,) = await system_dms(db, cast.carol)
    assert f"signalement n° {rid}" in dm and "aucune mesure" in dm and "pas grave" in dm and "m2" in dm
    assert ("report.resolved", "system") in await kinds(db)
    assert [r.id for r in (await queue(db, cast.maya, "resolved")).reports] == [rid]
    assert (await queue(db, cast.maya)).reports == []


async def test_delete_leaves_a_tombstone_with_the_note_even_in_a_group_the_moderator_is_not_in(
    db: Database, cast: Cast
) -> None:
    group, ids = await topic_of_seven(db, cast, kind="private")
    rid = await report(db, cast.carol, ids[4])
    await resolve(db, cast.maya, rid, "delete", note="insults")
    async with db.read() as s:
        gone = await get_message(s, cast.carol, ids[4])
        conversation_events = await s.scalars(
            select(models.Event.kind).where(models.Event.chain == f"c{group}", models.Event.kind == "message.deleted")
        )
        assert list(conversation_events) == ["message.deleted"]
    assert gone.deleted is not None and (gone.deleted.by, gone.deleted.reason) == (cast.maya.id, "insults")
    (dm,) = await system_dms(db, cast.carol)
    assert "deleted the message" in dm and "insults" in dm


async def test_mute_blocks_posting_and_editing_everywhere_until_it_ends(
    db: Database, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv, ids = await topic_of_seven(db, cast)
    elsewhere = await direct(db, cast.bob, cast.alice)
    await post(db, cast.bob, elsewhere, "warm the writer's memory", topic="")
    rid = await report(db, cast.carol, ids[0])
    await resolve(db, cast.maya, rid, "mute", note="cool down", duration_s=3600)
    async with db.read() as s:
        muted_until = (await s.get(models.User, cast.bob.id)).muted_until  # type: ignore[union-attr]
    assert muted_until is not None
    for target, topic in ((conv, "Q3"), (elsewhere, "")):
        with pytest.raises(Forbidden) as caught:
            await post(db, cast.bob, target, "still here", topic=topic)
        assert caught.value.code == "muted" and caught.value.data["until"] == muted_until.isoformat()
    with pytest.raises(Forbidden) as caught:
        async with db.transaction() as s:
            await edit_message(s, cast.bob, ids[1], EditMessage(body="sneaky"))
    assert caught.value.code == "muted"
    assert (await post(db, cast.carol, conv, "others still post", topic="Q3")).id
    assert ("user.muted", "system") in await kinds(db)
    (dm,) = await system_dms(db, cast.carol)
    assert "muted its author until" in dm
    later = muted_until + timedelta(seconds=1)
    monkeypatch.setattr(models, "utcnow", lambda: later)  # the clock moves past the mute
    assert (await post(db, cast.bob, conv, "back again", topic="Q3")).body == "back again"


async def test_remove_takes_the_author_out_of_the_conversation_but_not_of_a_dm(db: Database, cast: Cast) -> None:
    conv, ids = await topic_of_seven(db, cast, kind="private")
    rid = await report(db, cast.carol, ids[0])
    await resolve(db, cast.maya, rid, "remove")
    async with db.read() as s:
        assert await s.get(models.Membership, (conv, cast.bob.id)) is None
        removed = await s.scalar(select(models.Event).where(models.Event.kind == "member.removed"))
    assert removed is not None and removed.chain == f"c{conv}" and removed.subject_id == cast.bob.id
    dm = await direct(db, cast.bob, cast.carol)
    insult = await post(db, cast.bob, dm, "go away", topic="")
    rid = await report(db, cast.carol, insult.id)
    before = await kinds(db)
    with pytest.raises(Forbidden) as caught:
        await resolve(db, cast.maya, rid, "remove")
    assert caught.value.code == "not_allowed" and await kinds(db) == before


async def test_only_admins_deactivate_and_moderators_do_not_touch_admins(db: Database, cast: Cast) -> None:
    conv, ids = await topic_of_seven(db, cast)
    rid = await report(db, cast.carol, ids[0])
    admin_said = await post(db, cast.alice, conv, "admin words", topic="Q3")
    against_admin = await report(db, cast.carol, admin_said.id)
    before = await kinds(db)
    for report_id, action, code in (
        (rid, "deactivate", "admin_required"),
        (against_admin, "mute", "not_allowed"),
        (against_admin, "remove", "not_allowed"),
    ):
        with pytest.raises(Forbidden) as caught:
            await resolve(db, cast.maya, report_id, action, **({"duration_s": 60} if action == "mute" else {}))
        assert caught.value.code == code
    assert await kinds(db) == before
    await resolve(db, cast.alice, rid, "deactivate", note="repeated abuse")
    async with db.read() as s:
        assert (await s.get(models.User, cast.bob.id)).active is False  # type: ignore[union-attr]
    assert ("user.deactivated", "system") in await kinds(db)


async def test_resolving_twice_is_a_conflict_and_the_same_message_s_reports_close_together(
    db: Database, cast: Cast
) -> None:
    _conv, ids = await topic_of_seven(db, cast)
    first = await report(db, cast.carol, ids[0])
    second = await report(db, cast.alice, ids[0])
    await resolve(db, cast.maya, second, "delete", note="spam")
    assert {r.action for r in await rows(db, models.Report)} == {"delete"}  # type: ignore[attr-defined]
    assert len(await system_dms(db, cast.carol)) == 1 and len(await system_dms(db, cast.alice)) == 1
    before = await kinds(db)
    for rid in (first, second):
        with pytest.raises(Conflict) as caught:
            await resolve(db, cast.maya, rid, "dismiss")
        assert caught.value.code == "report_resolved"
    with pytest.raises(NotFound):
        await resolve(db, cast.maya, 10**9, "dismiss")
    with pytest.raises(Forbidden):
        await resolve(db, cast.bob, first, "dismiss")
    assert await kinds(db) == before


def test_resolution_input_is_checked() -> None:
    for fields, code in (
        ({"action": "mute"}, "duration_required"),
        ({"action": "dismiss", "duration_s": 60}, "duration_not_allowed"),
        ({"action": "mute", "duration_s": 1}, "out_of_range"),
        ({"action": "delete", "note": "x" * 501}, "too_long"),
    ):
        with pytest.raises(Invalid) as caught:
            ResolveReport(**fields)  # type: ignore[arg-type]
        assert caught.value.code == code, fields


# --- the rules, as a truth table ------------------------------------------------------------------

RESOLVE = {
    # (actor's role, action): allowed against a member's message in a channel or group
    **{(role, action): False for role in ("member", "guest") for action in policy.REPORT_ACTIONS},
    **{("moderator", action): action != "deactivate" for action in policy.REPORT_ACTIONS},
    **{("admin", action): True for action in policy.REPORT_ACTIONS},
}


def someone(role: Role, is_bot: bool = False) -> Actor:
    return Actor(id=1, username="x", display_name="X", role=role, is_bot=is_bot)


@pytest.mark.parametrize(("role", "action"), list(RESOLVE))
@pytest.mark.parametrize("kind", ["public", "private", "direct"])
@pytest.mark.parametrize("author_role", ROLES)
def test_who_resolves_what(role: Role, action: policy.ReportAction, kind: policy.Kind, author_role: Role) -> None:
    expected = RESOLVE[(role, action)]
    if action == "remove" and kind == "direct":
        expected = False
    if action in ("mute", "remove") and author_role == "admin" and role != "admin":
        expected = False
    assert policy.can_resolve_report(someone(role), action, kind, author_role) is expected


@pytest.mark.parametrize("role", ROLES)
def test_who_reviews_and_who_reports(role: Role) -> None:
    assert policy.can_review_reports(someone(role)) is (role in ("admin", "moderator"))
    assert policy.can_report(someone(role), is_author=False) is True
    assert policy.can_report(someone(role), is_author=True) is False


def test_a_mute_in_the_past_does_not_count() -> None:
    now = models.utcnow()
    policy.require_unmuted(None)
    policy.require_unmuted(now - timedelta(seconds=1))
    with pytest.raises(Forbidden) as caught:
        policy.require_unmuted(now + timedelta(hours=1))
    assert caught.value.code == "muted" and caught.value.data["until"] == (now + timedelta(hours=1)).isoformat()

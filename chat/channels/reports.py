"""Reports of messages: filing one, the moderators' queue, and what a resolution changes here.

A member reports a message they can see (``file_report``): one ``reports`` row
and one ``report.filed`` event in the ``system`` chain (audience ``staff``). A
person has at most one open report of a message: a second one is refused
(409 ``already_reported``, naming the open report) rather than merged, so the
reason they gave first is the one moderators read. The message row is locked
while filing, so two concurrent reports by the same person cannot both pass.

The queue (``list_reports``, staff) shows each report with its *window*: the
reported message and ``REPORT_CONTEXT`` neighbours on each side in its topic (in
its conversation, for a direct one), as the message views show them. That
window is the only thing of a private group or DM that a moderator who is not
in it can read; it is read here and nowhere else.

Resolution (orchestrated by ``chat.accounts.moderation``, which may also
deactivate the author) uses the pieces below, each writing its own event in
the caller's transaction: ``delete_reported`` (``message.deleted`` in the
conversation's chain, the note as the tombstone's reason), ``mute_author``
(``user.muted``, system chain, staff, with the author as its subject, who
reads it), ``remove_author`` (``member.removed`` in the conversation's chain),
and ``close_reports``, which resolves *every* open report of the message at
once (the action answers them all) with one ``report.resolved`` event each
(system chain, staff). Report events name no subject: an event's subject reads
it, and nobody may learn from the log who reported them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.conversations import drop_member
from chat.channels.message_views import MessageOut, access_message, message_not_found, messages_out
from chat.channels.messages import tombstone
from chat.channels.policy import (
    MUTES_KEY,
    REPORT_CONTEXT,
    ReportAction,
    can_report,
    can_resolve_report,
    can_review_reports,
)
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Conflict, Forbidden, Invalid, NotFound
from chat.store import models
from chat.store.db import forget
from chat.validation import Checked, limits

REASON_MAX = 500  # the column's width, for the reason and the note
MUTE_MIN_S = 60
MUTE_MAX_S = 365 * 86400
LIST_MAX = 100
LIST_DEFAULT = 50

Status = Literal["open", "resolved"]


# --- commands and shapes ------------------------------------------------------------------


@dataclass(frozen=True)
class FileReport(Checked):
    """Report a message to the moderators, saying why."""

    reason: str = field(metadata=limits(strip=True, min_len=1, max_len=REASON_MAX, description="1 to 500 characters"))


@dataclass(frozen=True)
class ResolveReport(Checked):
    """Resolve a report: ``duration_s`` is required for ``mute`` and refused otherwise.

    ``note`` is kept with the report, told to the reporter, and is the deleted
    message's reason for ``delete``.
    """

    action: ReportAction
    note: str = field(default="", metadata=limits(strip=True, max_len=REASON_MAX, description="0 to 500 characters"))
    duration_s: int | None = field(
        default=None, metadata=limits(minimum=MUTE_MIN_S, maximum=MUTE_MAX_S, description="seconds, for mute")
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action == "mute" and self.duration_s is None:
            raise Invalid("duration_required", "a mute needs duration_s (seconds)", field="duration_s")
        if self.action != "mute" and self.duration_s is not None:
            raise Invalid("duration_not_allowed", "only a mute takes duration_s", field="duration_s")

    def mute_seconds(self) -> int:
        if self.duration_s is None:
            raise Invalid("duration_required", "a mute needs duration_s (seconds)", field="duration_s")
        return self.duration_s


@dataclass(frozen=True)
class ReportReceipt:
    """What the reporter gets back: their report, open."""

    id: int
    message_id: int
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class ReportPlace:
    """Where the reported message is: its conversation (``name`` null for a direct one) and topic."""

    id: int
    kind: str
    name: str | None
    topic: str


@dataclass(frozen=True)
class ReportOut:
    """A report as moderators see it; ``context`` is the window, oldest first, the reported one included."""

    id: int
    status: Status
    message_id: int
    place: ReportPlace
    author: int
    reporter: int
    reason: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: int | None
    action: str | None
    note: str
    context: list[MessageOut]


@dataclass(frozen=True)
class PersonRef:
    id: int
    username: str
    display_name: str
    role: str
    active: bool


@dataclass(frozen=True)
class ReportList:
    """A page of reports, newest first (``next_before``: the ``before`` of the next page, or null),
    and every person the page names (reporters, authors, resolvers)."""

    reports: list[ReportOut]
    users: list[PersonRef]
    next_before: int | None


# --- filing -------------------------------------------------------------------------------


async def file_report(
    session: AsyncSession, actor: Actor, message_id: int, cmd: FileReport, *, lang: str = "en"
) -> ReportReceipt:
    """Report a message the actor can see. ``lang`` is the reporter's language, kept in the event
    so that the outcome can be told to them in it."""
    row, _access = await access_message(session, actor, message_id, lock=True)
    if not can_report(actor, row.author_id == actor.id):
        raise Forbidden("own_message", "you cannot report your own message")
    if row.deleted_at is not None:
        raise Conflict("message_deleted", "this message was deleted")
    r = models.Report
    open_id = await session.scalar(
        select(r.id).where(r.message_id == row.id, r.reporter_id == actor.id, r.resolved_at.is_(None))
    )
    if open_id is not None:
        raise Conflict("already_reported", "you already reported this message", report_id=open_id)
    now = models.utcnow()
    report = models.Report(
        message_id=row.id,
        conversation_id=row.conversation_id,
        reporter_id=actor.id,
        reason=cmd.reason,
        created_at=now,
        note="",
    )
    session.add(report)
    await session.flush()
    await append_event(
        session,
        kind="report.filed",
        actor_id=actor.id,
        audience="staff",  # no subject: an event's subject reads it, and nobody is told who reported them
        data={
            "report_id": report.id,
            "message_id": row.id,
            "conversation_id": row.conversation_id,
            "author": row.author_id,
            "reason": cmd.reason,
            "lang": lang,
        },
        created_at=now,
    )
    return ReportReceipt(id=report.id, message_id=row.id, reason=cmd.reason, created_at=now)


# --- the queue ----------------------------------------------------------------------------


def require_staff(actor: Actor) -> None:
    if not can_review_reports(actor):
        raise Forbidden("staff_required", "only moderators and administrators handle reports")


async def list_reports(
    session: AsyncSession,
    actor: Actor,
    *,
    status: Status = "open",
    before: int | None = None,
    limit: int = LIST_DEFAULT,
) -> ReportList:
    """Open (or resolved) reports, newest first, each with its window of context."""
    require_staff(actor)
    r = models.Report
    query = select(r).where(r.resolved_at.is_(None) if status == "open" else r.resolved_at.is_not(None))
    if before is not None:
        query = query.where(r.id < before)
    rows = list((await session.scalars(query.order_by(r.id.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    reports = [await report_out(session, row) for row in rows]
    people = {p for out in reports for p in (out.author, out.reporter, out.resolved_by) if p is not None}
    people.update(m.author for out in reports for m in out.context)
    return ReportList(
        reports=reports, users=await people_refs(session, people), next_before=rows[-1].id if more else None
    )


async def report_out(session: AsyncSession, report: models.Report) -> ReportOut:
    message = await session.get(models.Message, report.message_id)
    if message is None:  # messages are never deleted, only tombstoned
        raise message_not_found()
    conversation = await session.get(models.Conversation, message.conversation_id)
    if conversation is None:
        raise message_not_found()
    return ReportOut(
        id=report.id,
        status="open" if report.resolved_at is None else "resolved",
        message_id=message.id,
        place=ReportPlace(
            id=conversation.id,
            kind=conversation.kind,
            name=conversation.name if conversation.kind != "direct" else None,
            topic=message.topic,
        ),
        author=message.author_id,
        reporter=report.reporter_id,
        reason=report.reason,
        created_at=report.created_at,
        resolved_at=report.resolved_at,
        resolved_by=report.resolved_by,
        action=report.action,
        note=report.note,
        context=await messages_out(session, await _window(session, message)),
    )


async def _window(session: AsyncSession, message: models.Message) -> list[models.Message]:
    """The message and ``REPORT_CONTEXT`` neighbours on each side in its topic, oldest first (one query)."""
    m = models.Message
    place = (m.conversation_id == message.conversation_id, m.topic_key == message.topic_key)
    older = select(m.id).where(*place, m.id < message.id).order_by(m.id.desc()).limit(REPORT_CONTEXT)
    newer = select(m.id).where(*place, m.id > message.id).order_by(m.id).limit(REPORT_CONTEXT)
    ids = union_all(select(older.subquery().c.id), select(newer.subquery().c.id))
    rows = await session.scalars(select(m).where((m.id == message.id) | m.id.in_(ids)).order_by(m.id))
    return list(rows.all())


async def people_refs(session: AsyncSession, ids: set[int]) -> list[PersonRef]:
    if not ids:
        return []
    u = models.User
    rows = await session.execute(
        select(u.id, u.username, u.display_name, u.role, u.active).where(u.id.in_(sorted(ids))).order_by(u.id)
    )
    return [PersonRef(*row) for row in rows.all()]


# --- resolving ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An open report being resolved, locked, with its message (locked) and conversation."""

    report: models.Report
    message: models.Message
    conversation: models.Conversation


async def access_open_report(session: AsyncSession, actor: Actor, report_id: int) -> Pending:
    """Lock an open report and its message for resolution (403 for non-staff, 404, 409 ``report_resolved``)."""
    require_staff(actor)
    report = await session.get(models.Report, report_id, with_for_update=True, populate_existing=True)
    if report is None:
        raise NotFound("report_not_found", "there is no such report")
    if report.resolved_at is not None:
        raise Conflict("report_resolved", "this report was already resolved", action=report.action)
    message = await session.get(models.Message, report.message_id, with_for_update=True, populate_existing=True)
    if message is None:
        raise message_not_found()
    conversation = await session.get(models.Conversation, message.conversation_id)
    if conversation is None:
        raise message_not_found()
    return Pending(report, message, conversation)


def require_resolve(actor: Actor, pending: Pending, action: ReportAction, author_role: str) -> None:
    if can_resolve_report(actor, action, pending.conversation.kind, author_role):
        return
    if action == "deactivate":
        raise Forbidden("admin_required", "only administrators may deactivate accounts")
    if action == "remove" and pending.conversation.kind == "direct":
        raise Forbidden("not_allowed", "nobody is removed from a direct conversation", action=action)
    raise Forbidden("not_allowed", f"you may not {action} this author", action=action)


async def delete_reported(session: AsyncSession, actor: Actor, pending: Pending, reason: str) -> None:
    await tombstone(session, actor, pending.message, reason)


async def mute_author(session: AsyncSession, actor: Actor, pending: Pending, duration_s: int) -> datetime:
    """Mute the message's author for ``duration_s`` from now (a longer mute already running stays)."""
    author_id = pending.message.author_id
    user = await session.get(models.User, author_id, with_for_update=True, populate_existing=True)
    if user is None:
        raise NotFound("user_not_found", "no such user")
    now = models.utcnow()
    until = now + timedelta(seconds=duration_s)
    if user.muted_until is not None and user.muted_until > until:
        until = user.muted_until
    await session.execute(update(models.User).where(models.User.id == author_id).values(muted_until=until))
    forget(session, MUTES_KEY)
    await append_event(
        session,
        kind="user.muted",
        actor_id=actor.id,
        audience="staff",
        subject_id=author_id,
        data={"user_id": author_id, "until": until.isoformat(), "report_id": pending.report.id},
        created_at=now,
    )
    return until


async def remove_author(session: AsyncSession, actor: Actor, pending: Pending) -> bool:
    """Remove the message's author from its conversation (False: they had already left)."""
    c = models.Conversation
    await session.execute(select(c.id).where(c.id == pending.conversation.id).with_for_update(key_share=True))
    membership = await session.get(
        models.Membership, (pending.conversation.id, pending.message.author_id), populate_existing=True
    )
    if membership is None:
        return False
    await drop_member(session, actor, membership)
    return True


async def close_reports(
    session: AsyncSession, actor: Actor, pending: Pending, cmd: ResolveReport, effect: dict[str, Any]
) -> list[models.Report]:
    """Resolve every open report of the message (this one first), one ``report.resolved`` event each."""
    r = models.Report
    others = await session.scalars(
        select(r)
        .where(r.message_id == pending.message.id, r.resolved_at.is_(None), r.id != pending.report.id)
        .order_by(r.id)
        .with_for_update()
    )
    closed = [pending.report, *others.all()]
    now = models.utcnow()
    for report in closed:
        report.resolved_at, report.resolved_by, report.action, report.note = now, actor.id, cmd.action, cmd.note
        await append_event(
            session,
            kind="report.resolved",
            actor_id=actor.id,
            audience="staff",  # the reporter is told by a direct message instead
            data={
                "report_id": report.id,
                "message_id": pending.message.id,
                "conversation_id": pending.conversation.id,
                "author": pending.message.author_id,
                "action": cmd.action,
                "note": cmd.note,
                **effect,
            },
            created_at=now,
        )
    await session.flush()
    return closed


async def reporter_language(session: AsyncSession, report: models.Report) -> str:
    """The language the reporter used when filing (kept in ``report.filed``), else English."""
    e = models.Event
    payloads = await session.scalars(
        select(e.payload)
        .where(e.chain == "system", e.kind == "report.filed", e.actor_id == report.reporter_id)
        .where(e.created_at >= report.created_at)
        .order_by(e.id)
    )
    for payload in payloads:
        if payload.get("report_id") == report.id:
            return str(payload.get("lang") or "en")
    return "en"

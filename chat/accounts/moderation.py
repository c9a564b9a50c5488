"""Resolving a report: the action, the report's closing, and the reporter told by a system DM.

``resolve_report`` is the one action behind ``POST /api/v1/reports/{id}/resolve``.
In one transaction it locks the open report and its message
(``chat.channels.reports.access_open_report``), asks the policy whether the
actor may take this action against this author, applies it (each piece writes
its own event: ``message.deleted``, ``user.muted``, ``member.removed``, or
``user.deactivated`` through :func:`chat.accounts.users.update_user`, which ends
the author's sessions and sockets), closes every open report of the message
(``report.resolved`` each) and sends each reporter a direct message from the
server's own account, ``salon`` (a bot with no token, created on first use;
its username is reserved, so nobody else can take it). Any failure rolls the
whole resolution back.

The words of that message are the web layer's (``Notice``: it owns the
translations); they are written in the language the reporter used when
filing the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.commands import UpdateUser
from chat.accounts.users import actor_of, create_user, get_user, update_user
from chat.channels.commands import OpenDirect
from chat.channels.direct import get_or_create_direct
from chat.channels.message_commands import PostMessage
from chat.channels.messages import post_message
from chat.channels.reports import (
    ReportOut,
    ResolveReport,
    access_open_report,
    close_reports,
    delete_reported,
    mute_author,
    remove_author,
    report_out,
    reporter_language,
    require_resolve,
)
from chat.domain.actors import Actor
from chat.errors import Conflict
from chat.store import models

SYSTEM_USERNAME = "salon"
SYSTEM_DISPLAY_NAME = "Salon"


@dataclass(frozen=True)
class Outcome:
    """What a reporter is told: which message, where, and what the moderators did."""

    lang: str
    report_id: int
    message_id: int
    conversation_id: int
    conversation_name: str | None  # None: a direct conversation
    topic: str
    excerpt: str  # the start of the message as it was reported
    action: str
    note: str
    muted_until: datetime | None


Notice = Callable[[Outcome], str]  # the markdown body of the system DM


async def resolve_report(
    session: AsyncSession, actor: Actor, report_id: int, cmd: ResolveReport, *, notice: Notice
) -> ReportOut:
    pending = await access_open_report(session, actor, report_id)
    author = await get_user(session, pending.message.author_id)
    require_resolve(actor, pending, cmd.action, author.role)
    excerpt = _excerpt(pending.message.body)
    effect: dict[str, Any] = {}
    muted_until = None
    match cmd.action:
        case "delete":
            await delete_reported(session, actor, pending, cmd.note)
        case "mute":
            muted_until = await mute_author(session, actor, pending, cmd.mute_seconds())
            effect["muted_until"] = muted_until.isoformat()
        case "remove":
            effect["removed"] = await remove_author(session, actor, pending)
        case "deactivate":
            await update_user(session, actor, author.id, UpdateUser(active=False))
    closed = await close_reports(session, actor, pending, cmd, effect)
    for report in closed:
        outcome = Outcome(
            lang=await reporter_language(session, report),
            report_id=report.id,
            message_id=pending.message.id,
            conversation_id=pending.conversation.id,
            conversation_name=pending.conversation.name if pending.conversation.kind != "direct" else None,
            topic=pending.message.topic,
            excerpt=excerpt,
            action=cmd.action,
            note=cmd.note,
            muted_until=muted_until,
        )
        await tell_reporter(session, report, notice(outcome))
    return await report_out(session, pending.report)


async def tell_reporter(session: AsyncSession, report: models.Report, body: str) -> None:
    """A direct message from ``salon`` to the reporter (nothing if their account is inactive)."""
    reporter = await get_user(session, report.reporter_id)
    if not reporter.active:
        return
    system = await system_actor(session)
    opened = await get_or_create_direct(session, system, OpenDirect(user_ids=[reporter.id]))
    await post_message(session, system, opened.conversation.id, PostMessage(body=body, nonce=f"report-{report.id}"))


async def system_actor(session: AsyncSession) -> Actor:
    """The server's own account, ``salon``, created (a bot without a token) on first use."""
    u = models.User
    found = await session.scalar(select(u).where(u.username == SYSTEM_USERNAME, u.is_bot.is_(True)))
    if found is not None:
        return actor_of(found)
    try:
        user = await create_user(
            session,
            username=SYSTEM_USERNAME,
            password=None,
            role="member",
            display_name=SYSTEM_DISPLAY_NAME,
            reserved_ok=True,
            event_data={"via": "system"},
        )
    except Conflict:  # created by a concurrent resolution
        raced = await session.scalar(select(u).where(u.username == SYSTEM_USERNAME))
        if raced is None:
            raise
        return actor_of(raced)
    return actor_of(user)


def _excerpt(body: str, limit: int = 80) -> str:
    text = " ".join(body.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

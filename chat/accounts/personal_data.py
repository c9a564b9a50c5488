"""A person's own data, as a zip of JSON files (``GET /api/v1/me/export``, GDPR articles 15 and 20).

The archive holds, each as one JSON file:

* ``profile.json``: the account (username, display name, e-mail, role, dates, preferences);
* ``messages.json``: every message they wrote, with every revision (a redacted or deleted
  message shows as such, its text is gone for everyone); a message or revision now in a
  conversation they may not see (moved into a group they are not in) keeps its text, but
  that conversation's id and topic are left out (null), as the message history hides them;
* ``reactions.json``, ``memberships.json`` (with the conversations' names),
  ``topic_states.json`` (muted and followed topics), ``read_markers.json``;
* ``tokens.json``: their API tokens without the secrets (name, prefix, dates);
* ``sessions.json``: their login sessions without the secrets (dates, address, browser).

What is not in it: other people's messages (their data), and the audit log (kept
under legal obligation; docs/gdpr.md). The export is read in one consistent snapshot
(``db.read(threaded=True)``) and built in memory; :func:`log_export` writes the
``user.data_exported`` event (audience ``subject``) once it is built.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.history import visible_conversations
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Unauthorized
from chat.store import models

FORMAT = "salon-personal-data"
BATCH = 2000  # messages read per statement


@dataclass(frozen=True)
class PersonalExport:
    """The zip's bytes and what it holds (file name → number of records)."""

    content: bytes
    counts: dict[str, int]
    filename: str


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


async def export_personal_data(session: AsyncSession, actor: Actor, *, now: datetime) -> PersonalExport:
    """Everything the server holds about ``actor`` that is theirs (see the module docstring)."""
    user = await session.get(models.User, actor.id)
    if user is None:  # pragma: no cover - the actor was loaded from this row a moment ago
        raise Unauthorized("not_authenticated")
    files: dict[str, list[dict[str, Any]] | dict[str, Any]] = {
        "profile.json": _profile(user),
        "messages.json": await _messages(session, actor),
        "reactions.json": await _rows(
            session,
            select(models.Reaction).where(models.Reaction.user_id == user.id).order_by(models.Reaction.created_at),
            lambda r: {"message": r.message_id, "emoji": r.emoji, "created_at": _iso(r.created_at)},
        ),
        "memberships.json": await _memberships(session, user.id),
        "topic_states.json": await _rows(
            session,
            select(models.TopicState).where(models.TopicState.user_id == user.id),
            lambda t: {"conversation": t.conversation_id, "topic_key": t.topic_key, "mode": t.mode},
        ),
        "read_markers.json": await _rows(
            session,
            select(models.ReadMarker).where(models.ReadMarker.user_id == user.id),
            lambda r: {"conversation": r.conversation_id, "topic_key": r.topic_key, "last_read_id": r.last_read_id},
        ),
        "tokens.json": await _rows(
            session,
            select(models.ApiToken).where(models.ApiToken.user_id == user.id).order_by(models.ApiToken.id),
            lambda t: {
                "id": t.id,
                "name": t.name,
                "prefix": t.prefix,
                "created_at": _iso(t.created_at),
                "last_used_at": _iso(t.last_used_at),
                "revoked_at": _iso(t.revoked_at),
            },
        ),
        "push_devices.json": await _rows(
            session,
            select(models.PushSubscription)
            .where(models.PushSubscription.user_id == user.id)
            .order_by(models.PushSubscription.id),
            lambda p: {
                "endpoint": p.endpoint,
                "user_agent": p.user_agent,
                "created_at": _iso(p.created_at),
                "last_used_at": _iso(p.last_used_at),
            },
        ),
        "sessions.json": await _rows(
            session,
            select(models.WebSession).where(models.WebSession.user_id == user.id).order_by(models.WebSession.id),
            lambda s: {
                "created_at": _iso(s.created_at),
                "expires_at": _iso(s.expires_at),
                "address": s.address,
                "user_agent": s.user_agent,
            },
        ),
    }
    counts = {name: len(rows) if isinstance(rows, list) else 1 for name, rows in files.items()}
    manifest = {"format": FORMAT, "version": 1, "user": user.id, "exported_at": now.isoformat(), "files": counts}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", _dump(manifest))
        for name, rows in files.items():
            zf.writestr(name, _dump(rows))
    filename = f"salon-{user.username}-{now.strftime('%Y%m%d')}.zip"
    return PersonalExport(buffer.getvalue(), counts, filename)


async def log_export(session: AsyncSession, actor: Actor, export: PersonalExport) -> None:
    """The ``user.data_exported`` event of a built export (no content: which files, how many records)."""
    await append_event(
        session,
        kind="user.data_exported",
        actor_id=actor.id,
        subject_id=actor.id,
        audience="subject",
        data={"user_id": actor.id, "files": export.counts, "bytes": len(export.content)},
    )


def _profile(user: models.User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "email_verified_at": _iso(user.email_verified_at),
        "role": user.role,
        "is_bot": user.is_bot,
        "bot_owner": user.bot_owner_id,
        "active": user.active,
        "created_at": _iso(user.created_at),
        "muted_until": _iso(user.muted_until),
        "preferences": user.preferences or {},
        "notification_settings": user.notification_settings or {},
    }


async def _rows(session: AsyncSession, query: Any, shape: Any) -> list[dict[str, Any]]:
    return [shape(row) for row in (await session.scalars(query)).all()]


async def _memberships(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    mb, c = models.Membership, models.Conversation
    rows = (
        await session.execute(
            select(mb.conversation_id, c.kind, c.name, mb.joined_at, mb.starred)
            .join(c, c.id == mb.conversation_id)
            .where(mb.user_id == user_id)
            .order_by(mb.conversation_id)
        )
    ).all()
    return [
        {"conversation": cid, "kind": kind, "name": name, "joined_at": _iso(joined), "starred": starred}
        for cid, kind, name, joined, starred in rows
    ]


def _place(conversation_id: int, topic: str, visible: set[int]) -> dict[str, Any]:
    if conversation_id in visible:
        return {"conversation": conversation_id, "topic": topic}
    return {"conversation": None, "topic": None}


async def _messages(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    user_id = actor.id
    m, r = models.Message, models.MessageRevision
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        batch: Sequence[models.Message] = (
            await session.scalars(select(m).where(m.author_id == user_id, m.id > after).order_by(m.id).limit(BATCH))
        ).all()
        if not batch:
            return out
        ids = [row.id for row in batch]
        rows = (await session.scalars(select(r).where(r.message_id.in_(ids)).order_by(r.id))).all()
        visible = await visible_conversations(
            session, actor, {row.conversation_id for row in batch} | {rev.conversation_id for rev in rows}
        )
        revisions: dict[int, list[dict[str, Any]]] = {}
        for rev in rows:
            revisions.setdefault(rev.message_id, []).append(
                {
                    "body": rev.body,
                    **_place(rev.conversation_id, rev.topic, visible),
                    "editor": rev.editor_id,
                    "created_at": _iso(rev.created_at),
                }
            )
        for row in batch:
            out.append(
                {
                    "id": row.id,
                    **_place(row.conversation_id, row.topic, visible),
                    "body": row.body,
                    "created_at": _iso(row.created_at),
                    "edited_at": _iso(row.edited_at),
                    "deleted_at": _iso(row.deleted_at),
                    "delete_reason": row.delete_reason,
                    "redacted_at": _iso(row.redacted_at),
                    "revisions": revisions.get(row.id, []),
                }
            )
        session.expunge_all()
        after = ids[-1]

"""The files a message carries: attaching uploads to a new message, and listing them.

The rules (``attach_uploads``, on posting): at most :data:`MAX_ATTACHMENTS` uploads,
each the poster's own and not carried by any other message: one upload, one message
(to share a file again, upload it again; identical bytes are stored once). Unknown or
someone else's: ``attachment_not_found``; already attached: ``attachment_in_use``; the
same id twice: ``duplicate_attachment``. A message lists its attachments in the order
given, as :class:`AttachmentOut` (``load_attachments``: many messages, one query).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.domain.actors import Actor
from chat.errors import Conflict, Invalid
from chat.store import models

MAX_ATTACHMENTS = 10


@dataclass(frozen=True)
class UploadOut:
    """What ``POST /api/v1/uploads`` answers: the id to attach, and where to fetch it."""

    id: int
    name: str
    size: int
    content_type: str
    sha256: str
    url: str
    thumbnail_url: str | None


@dataclass(frozen=True)
class AttachmentOut(UploadOut):
    """A file carried by a message. ``width``/``height`` for images, ``pages`` for PDFs (else null)."""

    width: int | None
    height: int | None
    pages: int | None


def file_url(upload_id: int, name: str) -> str:
    return f"/files/{upload_id}/{quote(name, safe='')}"


def thumb_url(row: models.Upload) -> str | None:
    return f"/files/{row.id}/thumb" if row.thumbnail_sha256 else None


def upload_out(row: models.Upload) -> UploadOut:
    return UploadOut(
        row.id, row.name, row.size, row.content_type, row.sha256, file_url(row.id, row.name), thumb_url(row)
    )


def attachment_out(row: models.Upload) -> AttachmentOut:
    return AttachmentOut(
        row.id,
        row.name,
        row.size,
        row.content_type,
        row.sha256,
        file_url(row.id, row.name),
        thumb_url(row),
        row.width,
        row.height,
        row.pages,
    )


# --- attaching and listing -------------------------------------------------------------------


async def attach_uploads(
    session: AsyncSession, actor: Actor, message_id: int, upload_ids: list[int]
) -> list[AttachmentOut]:
    """Attach the actor's own, not yet attached uploads to a new message, in the order given."""
    if len(upload_ids) > MAX_ATTACHMENTS:
        raise Invalid("too_many", f"a message carries at most {MAX_ATTACHMENTS} files", field="attachments")
    if len(set(upload_ids)) != len(upload_ids):
        raise Invalid("duplicate_attachment", "an upload is attached twice", field="attachments")
    rows = (
        (
            await session.execute(
                select(models.Upload)
                .where(models.Upload.id.in_(upload_ids), models.Upload.uploader_id == actor.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    found = {row.id: row for row in rows}
    missing = [i for i in upload_ids if i not in found]
    if missing:
        raise Invalid(
            "attachment_not_found", "no upload of yours has this id", field="attachments", upload_id=missing[0]
        )
    taken = (
        (
            await session.execute(
                select(models.MessageAttachment.upload_id).where(models.MessageAttachment.upload_id.in_(upload_ids))
            )
        )
        .scalars()
        .first()
    )
    if taken is not None:
        raise Conflict("attachment_in_use", "this upload is already attached to a message", upload_id=taken)
    session.add_all(
        models.MessageAttachment(message_id=message_id, upload_id=upload_id, position=position)
        for position, upload_id in enumerate(upload_ids)
    )
    await session.flush()
    return [attachment_out(found[i]) for i in upload_ids]


async def load_attachments(session: AsyncSession, message_ids: list[int]) -> dict[int, list[AttachmentOut]]:
    """The attachments of many messages in one query."""
    if not message_ids:
        return {}
    rows = (
        await session.execute(
            select(models.MessageAttachment.message_id, models.Upload)
            .join(models.Upload, models.Upload.id == models.MessageAttachment.upload_id)
            .where(models.MessageAttachment.message_id.in_(message_ids))
            .order_by(models.MessageAttachment.message_id, models.MessageAttachment.position)
        )
    ).all()
    grouped: dict[int, list[AttachmentOut]] = {}
    for message_id, upload in rows:
        grouped.setdefault(message_id, []).append(attachment_out(upload))
    return grouped

"""Uploads: recording a stored file as someone's upload, and who may fetch it.

An upload belongs to its uploader until a message carries it
(``chat.channels.attachments``).

* ``record_upload``: one ``uploads`` row and one ``upload.created`` event (account
  chain, audience ``subject``: only the uploader hears of it), after the bytes are
  durably stored. The quota counts the sizes of the user's uploads, except those of
  deleted messages (``used_bytes``).
* ``access_upload``: the upload, for whoever may fetch it (``policy.can_fetch_file``),
  else the 404 of a missing id.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.attachments import UploadOut, upload_out
from chat.channels.policy import access_conversation, can_fetch_file
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Invalid, NotFound
from chat.files.previews import PreviewRefused, preview
from chat.files.scan import scan_accepts
from chat.files.storage import BlobStore
from chat.store import models


@dataclass(frozen=True)
class NewUpload:
    """What the web layer learnt of a stored file, to record."""

    name: str
    size: int
    content_type: str
    sha256: str
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    thumbnail_sha256: str | None = None


def file_not_found() -> NotFound:
    """The one answer for a missing file and for a file the actor may not fetch."""
    return NotFound("file_not_found", "there is no such file")


# --- uploading ----------------------------------------------------------------------------


# an upload some message carries; one a live message (neither deleted nor erased) carries
ATTACHED = exists().where(models.MessageAttachment.upload_id == models.Upload.id)
IN_A_LIVE_MESSAGE = (
    select(models.MessageAttachment.upload_id)
    .join(models.Message, models.Message.id == models.MessageAttachment.message_id)
    .where(
        models.MessageAttachment.upload_id == models.Upload.id,
        models.Message.deleted_at.is_(None),
        models.Message.redacted_at.is_(None),
    )
    .exists()
)


async def keep_file(
    store: BlobStore,
    path: Path,
    *,
    name: str,
    size: int,
    content_type: str,
    scan_argv: list[str],
    scan_timeout_s: int,
) -> NewUpload:
    """Scan, preview and store a received file (``path``, a temporary file of ``store``, removed
    whatever happens): what an upload and a mail's attachment both go through before their row is
    recorded. Raises ``Invalid`` (``file_rejected``, ``image_too_large``); nothing is stored then."""
    try:
        if not await scan_accepts(scan_argv, path, scan_timeout_s):
            raise Invalid("file_rejected", "the server's scan refused this file")
        try:
            shown = await preview(path, content_type)
        except PreviewRefused as exc:
            raise Invalid("image_too_large", f"this image is too large to process: {exc}") from None
        sha256 = await store.put(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # a temporary file of the store: one quick system call
    thumbnail = await store.put_bytes(shown.thumbnail) if shown.thumbnail else None
    return NewUpload(
        name=name,
        size=size,
        content_type=content_type,
        sha256=sha256,
        width=shown.width,
        height=shown.height,
        pages=shown.pages,
        thumbnail_sha256=thumbnail,
    )


async def used_bytes(session: AsyncSession, user_id: int) -> int:
    """The sizes of the user's uploads that still count: not attached yet, or carried by a live message
    (a deleted message's files no longer count)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(models.Upload.size), 0)).where(
            models.Upload.uploader_id == user_id, or_(~ATTACHED, IN_A_LIVE_MESSAGE)
        )
    )
    return int(total or 0)


async def check_quota(session: AsyncSession, actor: Actor, size: int, quota: int) -> None:
    """``quota_exceeded`` when ``size`` more bytes would take the actor past ``quota`` (0: no quota)."""
    if not quota:
        return
    used = await used_bytes(session, actor.id)
    if used + size > quota:
        raise Invalid(
            "quota_exceeded", f"this upload would take you past your quota of {quota} bytes", quota=quota, used=used
        )


async def record_upload(session: AsyncSession, actor: Actor, new: NewUpload, *, quota: int = 0) -> UploadOut:
    """Record a stored file as the actor's upload (quota checked again, in the transaction; on PostgreSQL
    the uploader's row is locked first, so two uploads at once cannot both fit under the quota)."""
    if quota:
        await session.execute(select(models.User.id).where(models.User.id == actor.id).with_for_update())
    await check_quota(session, actor, new.size, quota)
    row = models.Upload(uploader_id=actor.id, created_at=models.utcnow(), **vars(new))
    session.add(row)
    await session.flush()
    out = upload_out(row)
    await append_event(
        session,
        kind="upload.created",
        actor_id=actor.id,
        data={"upload": {"id": row.id, "name": row.name, "size": row.size, "sha256": row.sha256}},
        audience="subject",
        subject_id=actor.id,
        created_at=row.created_at,
    )
    return out


# --- fetching -------------------------------------------------------------------------------


async def access_upload(session: AsyncSession, actor: Actor, upload_id: int) -> models.Upload:
    """The upload if the actor may fetch it (``policy.can_fetch_file``), else ``file_not_found``."""
    row = await session.get(models.Upload, upload_id)
    if row is None:
        raise file_not_found()
    carriers = (
        await session.execute(
            select(models.Message.conversation_id, models.Message.deleted_at, models.Message.redacted_at)
            .join(models.MessageAttachment, models.MessageAttachment.message_id == models.Message.id)
            .where(models.MessageAttachment.upload_id == upload_id)
        )
    ).all()
    visible = False
    for conversation_id, deleted_at, redacted_at in carriers:
        if deleted_at is not None or redacted_at is not None:
            continue
        try:
            await access_conversation(session, actor, conversation_id)
        except NotFound:
            continue
        visible = True
        break
    if not can_fetch_file(row.uploader_id == actor.id, carried=bool(carriers), visible_in_a_message=visible):
        raise file_not_found()
    return row

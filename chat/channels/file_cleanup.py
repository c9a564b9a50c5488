"""Removing files nobody can fetch any more: the hourly file cleanup.

Two kinds of files go:

* **Uploads never attached**: an upload no message carries, older than
  :data:`UNATTACHED_FOR` (24 h), loses its row (one ``upload.expired`` event each,
  account chain, audience ``subject``: the uploader).
* **Files of deleted messages**: a message deleted (or its body erased by retention or an
  erasure) no longer serves its files at once (``policy.can_fetch_file``); the rows stay,
  for the audit trail (the ``message.posted`` event names each file's sha256).

In both cases the bytes (and the thumbnail's) are removed from the store when no live
upload still names them: identical files are stored once, so another upload of the same
content, or another message's, keeps them. A blob stored again within the last
:data:`BLOB_GRACE_S` seconds is left for the next run (an upload of the same bytes racing
the cleanup keeps its file). Each run looks at every dead file again, so a run that
failed half-way, or a crash between the commit and the removal, is made good by the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.periodic import Periodic, Sleep
from chat.domain.events import append_event
from chat.files.storage import BlobStore
from chat.store import models
from chat.store.db import Database

log = logging.getLogger(__name__)

UNATTACHED_FOR = timedelta(hours=24)
CLEANUP_INTERVAL_S = 3600.0
BLOB_GRACE_S = 3600.0
BATCH_SIZE = 500

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CleanupReport:
    expired_uploads: int
    removed_blobs: int


_attached = exists().where(models.MessageAttachment.upload_id == models.Upload.id)
_live_message = (
    select(models.MessageAttachment.upload_id)
    .join(models.Message, models.Message.id == models.MessageAttachment.message_id)
    .where(
        models.MessageAttachment.upload_id == models.Upload.id,
        models.Message.deleted_at.is_(None),
        models.Message.redacted_at.is_(None),
    )
    .exists()
)


async def expire_unattached(session: AsyncSession, now: datetime, batch_size: int = BATCH_SIZE) -> tuple[int, set[str]]:
    """Delete the rows of (at most ``batch_size``) uploads never attached and older than
    :data:`UNATTACHED_FOR`: how many, and the digests they named (candidates for removal)."""
    rows = (
        (
            await session.execute(
                select(models.Upload)
                .where(~_attached, models.Upload.created_at < now - UNATTACHED_FOR)
                .order_by(models.Upload.id)
                .limit(batch_size)
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        await append_event(
            session,
            kind="upload.expired",
            actor_id=None,
            data={"upload": {"id": row.id, "sha256": row.sha256}},
            audience="subject",
            subject_id=row.uploader_id,
            created_at=now,
        )
    if rows:
        await session.execute(delete(models.Upload).where(models.Upload.id.in_([r.id for r in rows])))
    return len(rows), _digests((r.sha256, r.thumbnail_sha256) for r in rows)


async def dead_digests(session: AsyncSession) -> set[str]:
    """The digests of files whose every carrying message is deleted or erased."""
    rows = (
        await session.execute(
            select(models.Upload.sha256, models.Upload.thumbnail_sha256).where(_attached, ~_live_message)
        )
    ).all()
    return _digests(rows)


async def still_used(session: AsyncSession, digests: set[str]) -> set[str]:
    """Those of ``digests`` a live upload (not attached yet, or carried by a live message) names."""
    if not digests:
        return set()
    live = or_(~_attached, _live_message)
    named = or_(models.Upload.sha256.in_(digests), models.Upload.thumbnail_sha256.in_(digests))
    rows = (
        await session.execute(select(models.Upload.sha256, models.Upload.thumbnail_sha256).where(named, live))
    ).all()
    return _digests(rows) & digests


def _digests(pairs: Iterable[tuple[str, str | None]]) -> set[str]:
    return {digest for pair in pairs for digest in pair if digest}


async def clean_files(
    db: Database, store: BlobStore, *, now: datetime, grace_s: float = BLOB_GRACE_S, batch_size: int = BATCH_SIZE
) -> CleanupReport:
    """One cleanup at ``now``: expire unattached uploads, then remove the bytes no live upload names."""
    candidates: set[str] = set()
    expired = 0
    while True:
        count, digests = await db.write(lambda session: expire_unattached(session, now, batch_size))
        expired += count
        candidates |= digests
        if count < batch_size:
            break
    async with db.read() as session:
        candidates |= await dead_digests(session)
        doomed = candidates - await still_used(session, candidates)
    removed = 0
    for digest in sorted(doomed):
        if store.exists(digest) and await store.delete(digest, idle_s=grace_s):
            removed += 1
    return CleanupReport(expired_uploads=expired, removed_blobs=removed)


class FileCleanup:
    """Every ``interval_s`` seconds, one :func:`clean_files` at the time its ``clock`` gives
    (the first at start). A failed run is logged and tried again at the next interval."""

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        *,
        interval_s: float = CLEANUP_INTERVAL_S,
        clock: Clock = models.utcnow,
        sleep: Sleep = asyncio.sleep,
        grace_s: float = BLOB_GRACE_S,
    ) -> None:
        self.db, self.store, self.clock, self.grace_s = db, store, clock, grace_s
        self._periodic = Periodic(self.run_once, interval_s, name="file-cleanup", sleep=sleep)

    async def run_once(self) -> CleanupReport | None:
        try:
            report = await clean_files(self.db, self.store, now=self.clock(), grace_s=self.grace_s)
        except Exception:
            log.exception("file cleanup failed; trying again next interval")
            return None
        if report.expired_uploads or report.removed_blobs:
            log.info("file cleanup: %d unused upload(s) expired, %d file(s) removed", *vars(report).values())
        return report

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.close()

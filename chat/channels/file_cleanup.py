"""Removing files nobody can fetch any more: the hourly file cleanup.

Two kinds of files go:

* **Uploads never attached**: an upload no message carries, older than
  :data:`UNATTACHED_FOR` (24 h), loses its row (one ``upload.expired`` event each,
  account chain, audience ``subject``: the uploader).
* **Files of deleted messages**: a message deleted (or its body erased by retention or an
  erasure) no longer serves its files at once (``policy.can_fetch_file``); the rows stay,
  for the audit trail (the ``message.posted`` event names each file's sha256).

The bytes: every stored blob that no live upload (not attached yet, or carried by a live
message) names is removed, its thumbnail's alike. Identical files are stored once, so another
upload of the same content, or another message's, keeps them; bytes no row names at all (an
upload refused by the quota in the instant between storing and recording) go too. A blob
stored (or stored again) within the last :data:`BLOB_GRACE_S` seconds is left for the next
run: an upload in flight, or one of the same bytes racing the cleanup, keeps its file.
Temporary files of uploads cut off by a crash go after a day. Each run compares the whole
store with the database, so a run that failed half-way is made good by the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.periodic import Periodic, Sleep
from chat.channels.uploads import ATTACHED, IN_A_LIVE_MESSAGE
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


async def expire_unattached(session: AsyncSession, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Delete the rows of (at most ``batch_size``) uploads never attached and older than
    :data:`UNATTACHED_FOR`; how many."""
    rows = (
        (
            await session.execute(
                select(models.Upload)
                .where(~ATTACHED, models.Upload.created_at < now - UNATTACHED_FOR)
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
    return len(rows)


async def live_digests(session: AsyncSession) -> set[str]:
    """The digests (files and thumbnails) that live uploads name: not attached yet, or carried by a
    live message."""
    live = or_(~ATTACHED, IN_A_LIVE_MESSAGE)
    rows = (await session.execute(select(models.Upload.sha256, models.Upload.thumbnail_sha256).where(live))).all()
    return _digests(rows)


def _digests(pairs: Iterable[tuple[str, str | None]]) -> set[str]:
    return {digest for pair in pairs for digest in pair if digest}


async def clean_files(
    db: Database, store: BlobStore, *, now: datetime, grace_s: float = BLOB_GRACE_S, batch_size: int = BATCH_SIZE
) -> CleanupReport:
    """One cleanup at ``now``: expire unattached uploads, then remove the bytes no live upload names."""
    expired = 0
    while True:
        count = await db.write(lambda session: expire_unattached(session, now, batch_size))
        expired += count
        if count < batch_size:
            break
    stored = await store.digests()  # listed before reading what is live: a newer blob is in neither
    async with db.read() as session:
        doomed = stored - await live_digests(session)
    removed = 0
    await store.remove_abandoned(UNATTACHED_FOR.total_seconds())
    for digest in sorted(doomed):
        if await store.delete(digest, idle_s=grace_s):
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

"""Check the files messages carry against the log: rows, digests, and the stored bytes themselves.

A ``message.posted`` event's payload lists the message's attachments with their
sha256, and the payload is covered by the chain hash; so the log, once verified,
says which bytes each message carried. :func:`compare_files` (called by
:func:`chat.archive.replay.replay_log`) compares that with what a reader gets:

- ``message_attachments``: a live message carries exactly the uploads its post
  named, in that order;
- ``uploads.sha256``: each of those uploads still names the digest of the log;
- **the file store**: the blob stored under that digest exists and its bytes
  hash to it. The store is content-addressed, so a file swapped on disk (or in
  an object store) is a blob whose bytes no longer hash to its name: found here.

A deleted message's files may be gone (the server removes files no other message
uses): they are not checked; a message whose text was erased may have lost its
files the same way, so for it only a present blob must match. Each digest is
read and hashed once, in a worker thread (reading blocks).

The store is passed in (:class:`Blobs`, which ``chat.files.storage.LocalStore``
satisfies): this layer does not import ``chat.files``.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store import models

CHUNK = 1024 * 1024
TABLE = "files"  # how a difference found here is named


class Blobs(Protocol):
    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes (``FileNotFoundError`` when absent)."""
        ...


@dataclass(frozen=True)
class Carried:
    """One attachment as the log says: which upload, which digest."""

    upload_id: int
    sha256: str


def carried_by(payload_message: dict[str, Any]) -> list[Carried]:
    """The attachments a ``message.posted`` payload lists (none in posts older than files)."""
    return [Carried(int(a["id"]), str(a["sha256"])) for a in payload_message.get("attachments") or ()]


def _digest_of(blobs: Blobs, sha256: str) -> str | None:
    try:
        with blobs.open(sha256) as f:
            digest = hashlib.sha256()
            while chunk := f.read(CHUNK):
                digest.update(chunk)
            return digest.hexdigest()
    except (FileNotFoundError, ValueError):  # ValueError: a digest the store cannot name
        return None


async def compare_files(
    session: AsyncSession, logged: dict[int, list[Carried]], live: set[int], blobs: Blobs | None
) -> tuple[int, list[tuple[int, str]]]:
    """Check the messages ``logged`` (message id -> its attachments per the log); ``live``: those the
    log does not delete. Returns how many blobs were read and the problems, by message id."""
    problems: list[tuple[int, str]] = []
    ma, m, u = models.MessageAttachment, models.Message, models.Upload
    ids = sorted(logged)
    rows: dict[int, list[tuple[int, str]]] = {}
    erased: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        q = (
            select(ma.message_id, u.id, u.sha256)
            .join(u, u.id == ma.upload_id)
            .where(ma.message_id.in_(chunk))
            .order_by(ma.message_id, ma.position)
        )
        for message_id, upload_id, sha256 in (await session.execute(q)).all():
            rows.setdefault(int(message_id), []).append((int(upload_id), str(sha256)))
        erased |= set((await session.scalars(select(m.id).where(m.id.in_(chunk), m.redacted_at.is_not(None)))).all())
    hashed: dict[str, str | None] = {}
    for message_id in ids:
        files = logged[message_id]
        if message_id not in live:
            continue
        have = rows.get(message_id, [])
        if [upload for upload, _ in have] != [c.upload_id for c in files]:
            problems.append(
                (
                    message_id,
                    f"message {message_id} carries uploads {[x for x, _ in have]} in "
                    f"message_attachments, the log says {[c.upload_id for c in files]}",
                )
            )
            continue
        for carried, (_, sha256) in zip(files, have, strict=True):
            where = f"upload {carried.upload_id} of message {message_id}"
            if sha256 != carried.sha256:
                problems.append((message_id, f"{where}: uploads.sha256 differs from the log"))
                continue
            if blobs is None:
                continue
            if sha256 not in hashed:
                hashed[sha256] = await asyncio.to_thread(_digest_of, blobs, sha256)
            found = hashed[sha256]
            if found is None and message_id not in erased:
                problems.append((message_id, f"{where}: its file {sha256} is missing from the file store"))
            elif found is not None and found != sha256:
                problems.append(
                    (message_id, f"{where}: the stored file {sha256} was swapped (its bytes hash to {found})")
                )
    return len(hashed), problems

"""The file cleanup: unattached uploads go after 24 hours, deleted messages' bytes once nothing live names them."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from chat.channels.file_cleanup import FileCleanup, clean_files
from chat.channels.message_commands import DeleteMessage, PostMessage
from chat.channels.messages import delete_message, post_message
from chat.channels.uploads import NewUpload, record_upload
from chat.domain.actors import Actor
from chat.files.storage import LocalStore
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel, events_of
from tests.factories import Cast


async def stored_upload(db: Database, store: LocalStore, actor: Actor, data: bytes) -> tuple[int, str]:
    sha256 = await store.put_bytes(data)
    new = NewUpload(name="f.bin", size=len(data), content_type="application/octet-stream", sha256=sha256)
    out = await db.write(lambda s: record_upload(s, actor, new))
    return out.id, sha256


def age(store: LocalStore, sha256: str, hours: float = 2) -> None:
    """Make the stored bytes look written ``hours`` ago (past the cleanup's grace)."""
    past = os.path.getmtime(store.path_of(sha256)) - hours * 3600
    os.utime(store.path_of(sha256), (past, past))


async def upload_ids(db: Database) -> list[int]:
    async with db.read() as s:
        return list((await s.scalars(select(models.Upload.id).order_by(models.Upload.id))).all())


async def test_an_upload_never_attached_is_deleted_after_24_hours(db: Database, cast: Cast, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "uploads")
    kept, _ = await stored_upload(db, store, cast.bob, b"posted later")
    dropped, sha = await stored_upload(db, store, cast.bob, b"forgotten")
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    cmd = PostMessage(body="", nonce="k", topic="t", attachments=[kept])
    await db.write(lambda s: post_message(s, cast.bob, sales, cmd))
    age(store, sha)
    now = models.utcnow()
    assert (await clean_files(db, store, now=now + timedelta(hours=23))).expired_uploads == 0
    assert await upload_ids(db) == [kept, dropped]
    report = await clean_files(db, store, now=now + timedelta(hours=24, minutes=1))
    assert (report.expired_uploads, report.removed_blobs) == (1, 1)
    assert await upload_ids(db) == [kept] and not store.exists(sha)
    async with db.read() as s:
        (expired,) = await events_of(s, "upload.expired")
    assert (expired.audience, expired.subject_id, expired.payload["upload"]["id"]) == ("subject", cast.bob.id, dropped)


async def test_a_deleted_messages_bytes_go_unless_something_live_names_them(
    db: Database, cast: Cast, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "uploads")
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    own, own_sha = await stored_upload(db, store, cast.bob, b"only in the deleted message")
    shared, shared_sha = await stored_upload(db, store, cast.bob, b"the same bytes twice")
    twin, twin_sha = await stored_upload(db, store, cast.carol, b"the same bytes twice")
    assert twin_sha == shared_sha
    posted = await db.write(
        lambda s: post_message(
            s, cast.bob, sales, PostMessage(body="", nonce="d", topic="t", attachments=[own, shared])
        )
    )
    await db.write(
        lambda s: post_message(s, cast.carol, sales, PostMessage(body="x", nonce="e", topic="t", attachments=[twin]))
    )
    await db.write(lambda s: delete_message(s, cast.bob, posted.message.id, DeleteMessage()))
    assert (await clean_files(db, store, now=models.utcnow())).removed_blobs == 0  # just stored: the grace
    age(store, own_sha)
    age(store, shared_sha)
    report = await clean_files(db, store, now=models.utcnow())
    assert report.removed_blobs == 1 and not store.exists(own_sha)
    assert store.exists(shared_sha)  # carol's live message carries the same bytes
    assert len(await upload_ids(db)) == 3  # the rows stay: the audit trail names them
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(models.MessageAttachment)) == 3


async def test_the_scheduler_runs_at_start_then_each_interval(db: Database, cast: Cast, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "uploads")
    _, sha = await stored_upload(db, store, cast.bob, b"forgotten")
    age(store, sha)
    clock = [models.utcnow()]
    wakes: asyncio.Queue[None] = asyncio.Queue()
    runs: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(_: float) -> None:  # called after each run: the test says when the next one comes
        runs.put_nowait(None)
        await wakes.get()

    cleanup = FileCleanup(db, store, clock=lambda: clock[0], sleep=sleep)
    cleanup.start()
    try:
        await runs.get()
        assert store.exists(sha)  # at start: not yet 24 h old
        clock[0] += timedelta(hours=25)  # the clock moves; the next interval comes
        wakes.put_nowait(None)
        await runs.get()
        assert not store.exists(sha) and await upload_ids(db) == []
    finally:
        await cleanup.close()

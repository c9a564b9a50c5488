"""``chat audit verify`` holds every attached file to the log: a swapped or missing blob is named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, update

from chat.archive.replay import ReplayReport, replay_log
from chat.channels.message_commands import DeleteMessage
from chat.channels.messages import delete_message
from chat.cli import main
from chat.config import Settings
from chat.files.storage import LocalStore
from chat.store import models
from chat.store.db import Database
from tests.channels.messaging_support import channel
from tests.factories import Cast, make_cast
from tests.files.posting import PDF, blob_path, post_files
from tests.files.support import png_bytes


async def replay(db: Database, root: Path) -> ReplayReport:
    async with db.read() as s:
        return await replay_log(s, None, LocalStore(root))


def problems(report: ReplayReport) -> dict[str, str]:
    return {d.table: d.problem for d in report.differences}


async def test_intact_files_verify(db: Database, cast: Cast, settings: Settings) -> None:
    store = LocalStore(settings.upload_path)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await post_files(db, cast.bob, sales, [("a.pdf", PDF), ("b.png", png_bytes())], store=store)
    await post_files(db, cast.bob, sales, [("same.pdf", PDF)], store=store)  # identical bytes: one blob
    report = await replay(db, settings.upload_path)
    assert report.ok, report.differences
    assert report.files_read == 2


async def test_a_swapped_blob_is_named(db: Database, cast: Cast, settings: Settings) -> None:
    store = LocalStore(settings.upload_path)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    message = await post_files(db, cast.bob, sales, [("keep.png", png_bytes()), ("tender.pdf", PDF)], store=store)
    pdf = message.attachments[1]
    blob_path(settings.upload_path, pdf.sha256).write_bytes(PDF.replace(b"tiny", b"tidy"))
    found = problems(await replay(db, settings.upload_path))
    assert set(found) == {"files"}
    expected = f"upload {pdf.id} of message {message.id}: the stored file {pdf.sha256} was swapped"
    assert found["files"].startswith(expected)


async def test_a_missing_blob_is_named_unless_its_message_was_deleted(
    db: Database, cast: Cast, settings: Settings
) -> None:
    store = LocalStore(settings.upload_path)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    message = await post_files(db, cast.bob, sales, [("gone.pdf", PDF)], store=store)
    blob_path(settings.upload_path, message.attachments[0].sha256).unlink()
    assert problems(await replay(db, settings.upload_path)) == {
        "files": f"upload {message.attachments[0].id} of message {message.id}: its file "
        f"{message.attachments[0].sha256} is missing from the file store"
    }
    async with db.transaction() as s:
        await delete_message(s, cast.bob, message.id, DeleteMessage(reason="gone"))
    assert (await replay(db, settings.upload_path)).ok


async def test_rows_changed_behind_the_log_are_named(db: Database, cast: Cast, settings: Settings) -> None:
    store = LocalStore(settings.upload_path)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    first = await post_files(db, cast.bob, sales, [("one.pdf", PDF)], store=store)
    second = await post_files(db, cast.bob, sales, [("two.png", png_bytes())], store=store)
    async with db.transaction() as s:  # point the first upload at the other (genuine) blob
        await s.execute(
            update(models.Upload)
            .where(models.Upload.id == first.attachments[0].id)
            .values(sha256=second.attachments[0].sha256)
        )
    assert problems(await replay(db, settings.upload_path)) == {
        "files": f"upload {first.attachments[0].id} of message {first.id}: uploads.sha256 differs from the log"
    }
    async with db.transaction() as s:
        await s.execute(delete(models.MessageAttachment).where(models.MessageAttachment.message_id == second.id))
    assert problems(await replay(db, settings.upload_path))["files"].startswith(f"upload {first.attachments[0].id}")
    async with db.transaction() as s:
        await s.execute(
            update(models.Upload)
            .where(models.Upload.id == first.attachments[0].id)
            .values(sha256=first.attachments[0].sha256)
        )
    assert problems(await replay(db, settings.upload_path)) == {
        "files": f"message {second.id} carries uploads [] in message_attachments, "
        f"the log says [{second.attachments[0].id}]"
    }


def test_cli_verify_names_a_swapped_file(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "files"

    async def build() -> tuple[int, int, str]:
        db = Database(database_url)
        try:
            cast = await make_cast(db)
            sales = await channel(db, cast.alice, "sales", members=[cast.bob])
            message = await post_files(db, cast.bob, sales, [("tender-Q3.pdf", PDF)], store=LocalStore(root))
            return message.id, message.attachments[0].id, message.attachments[0].sha256
        finally:
            await db.dispose()

    message_id, upload_id, sha256 = asyncio.run(build())
    monkeypatch.setenv("CHAT_DATABASE_URL", database_url)
    monkeypatch.setenv("CHAT_UPLOAD_DIR", str(root))
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "1 stored file(s) hashed" in ok.output
    blob_path(root, sha256).write_bytes(b"%PDF-1.4 someone else's tender\n")
    bad = runner.invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1
    assert f"FAILED: a file does not match the log: upload {upload_id} of message {message_id}: " in bad.output
    assert "FAILED: chain" not in bad.output  # the log itself is intact

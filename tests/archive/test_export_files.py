"""Exports carry files: JSONL/CSV list them; the HTML zip includes them (bounded by ``max_file_bytes``) and
its verifier holds each included file to the sha256 of its ``message.posted`` event."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette

from chat.archive import verifier
from chat.channels.message_commands import DeleteMessage
from chat.channels.message_views import MessageOut
from chat.channels.messages import delete_message
from chat.config import Settings
from chat.files.storage import LocalStore
from chat.store.db import Database
from tests.archive.test_exports import _reseal, export, unpack, verify
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.files.posting import PDF, blob_path, post_files
from tests.files.support import png_bytes
from tests.web.authhelp import as_user

BIG = b"%PDF-1.4\n" + b"0" * 4000  # over the limit the tests export with


async def world(db: Database, cast: Cast, settings: Settings) -> tuple[int, MessageOut, MessageOut, MessageOut]:
    store = LocalStore(settings.upload_path)
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    await post(db, cast.bob, sales, "no files", topic="Q3")
    files = await post_files(
        db, cast.bob, sales, [("tender-Q3.pdf", PDF), ("chart.png", png_bytes())], body="see", topic="Q3", store=store
    )
    big = await post_files(db, cast.bob, sales, [("scan.pdf", BIG)], topic="Q3", store=store)
    gone = await post_files(db, cast.bob, sales, [("gone.pdf", b"%PDF-1.4 deleted\n")], topic="Q3", store=store)
    async with db.transaction() as s:
        await delete_message(s, cast.bob, gone.id, DeleteMessage(reason="wrong file"))
    return sales, files, big, gone


def listed(message: MessageOut) -> list[dict[str, object]]:
    return [{k: getattr(a, k) for k in verifier.FILE_FIELDS} for a in message.attachments]


async def test_jsonl_and_csv_list_each_message_files(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, settings: Settings
) -> None:
    sales, files, big, gone = await world(db, cast, settings)
    lines = [json.loads(line) for line in (await export(client, app, cast.bob, sales, "jsonl")).text.splitlines()]
    by_id = {r["id"]: r for r in lines}
    assert by_id[files.id]["attachments"] == listed(files)
    assert by_id[big.id]["attachments"] == listed(big)
    assert by_id[gone.id]["attachments"] == []  # a tombstone lists no files
    assert [r["attachments"] for r in lines if r["body"] == "no files"] == [[]]
    rows = list(csv.DictReader(io.StringIO((await export(client, app, cast.bob, sales, "csv")).text)))
    by_row = {int(r["id"]): r for r in rows}
    assert json.loads(by_row[files.id]["attachments"]) == listed(files)
    assert by_row[gone.id]["attachments"] == ""


async def test_the_zip_includes_files_up_to_the_limit_and_verifies(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, settings: Settings, tmp_path: Path
) -> None:
    sales, files, big, _gone = await world(db, cast, settings)
    response = await export(client, app, cast.bob, sales, "html", max_file_bytes="1000")
    assert response.status_code == 200, response.text
    root = unpack(response.content, tmp_path / "bundle")
    included = sorted(p.relative_to(root).as_posix() for p in (root / "files").rglob("*") if p.is_file())
    assert included == sorted(f"files/{a.sha256}/{a.name}" for a in files.attachments)
    assert (root / "files" / files.attachments[0].sha256 / "tender-Q3.pdf").read_bytes() == PDF
    page = next((root / "topics").glob("*.html")).read_text()
    assert f'href="../files/{files.attachments[0].sha256}/tender-Q3.pdf"' in page
    assert "scan.pdf" in page and "not included: larger than" in page  # listed, and said so
    assert "1 larger files are listed on the pages but not included" in (root / "index.html").read_text()
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["max_file_bytes"] == 1000 and manifest["files_unavailable"] == []
    code, out = verify(root)
    assert code == 0, out
    assert "2 attached files, each matching the sha256 of its event" in out

    everything = unpack((await export(client, app, cast.bob, sales, "html")).content, tmp_path / "all")
    assert (everything / "files" / big.attachments[0].sha256 / "scan.pdf").read_bytes() == BIG  # default: 10 MiB
    nothing = unpack((await export(client, app, cast.bob, sales, "html", max_file_bytes="0")).content, tmp_path / "0")
    assert not (nothing / "files").exists() and verify(nothing)[0] == 0


async def test_a_swapped_file_fails_the_bundled_verifier_even_when_resealed(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, settings: Settings, tmp_path: Path
) -> None:
    sales, files, _big, _gone = await world(db, cast, settings)
    root = unpack((await export(client, app, cast.bob, sales, "html")).content, tmp_path / "bundle")
    name = f"files/{files.attachments[0].sha256}/tender-Q3.pdf"

    swapped = Path(shutil.copytree(root, tmp_path / "swapped"))
    (swapped / name).write_bytes(b"%PDF-1.4 another tender\n")
    assert verify(swapped)[0] == 1  # the manifest catches it
    _reseal(swapped, name)  # a forger rewrites the manifest too
    with pytest.raises(verifier.Problem, match="does not match its sha256"):
        verifier.verify_bundle(swapped)

    removed = Path(shutil.copytree(root, tmp_path / "removed"))
    (removed / name).unlink()
    manifest = json.loads((removed / "manifest.json").read_text())
    del manifest["files"][name]
    manifest["seal"] = verifier.seal(manifest)
    (removed / "manifest.json").write_bytes(verifier.manifest_bytes(manifest))
    with pytest.raises(verifier.Problem, match="is missing"):
        verifier.verify_bundle(removed)

    relisted = Path(shutil.copytree(root, tmp_path / "relisted"))
    text = (relisted / "messages.jsonl").read_text().replace('"tender-Q3.pdf"', '"tender-Q4.pdf"')
    (relisted / "messages.jsonl").write_text(text)
    _reseal(relisted, "messages.jsonl")
    with pytest.raises(verifier.Problem, match="its files differ from its event"):
        verifier.verify_bundle(relisted)


async def test_a_blob_swapped_on_the_server_is_left_out_and_named(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, settings: Settings, tmp_path: Path
) -> None:
    sales, files, _big, _gone = await world(db, cast, settings)
    pdf = files.attachments[0]
    blob_path(settings.upload_path, pdf.sha256).write_bytes(b"%PDF-1.4 swapped on disk\n")
    root = unpack((await export(client, app, cast.bob, sales, "html")).content, tmp_path / "bundle")
    assert not (root / "files" / pdf.sha256).exists()
    assert json.loads((root / "manifest.json").read_text())["files_unavailable"] == [pdf.sha256]
    assert "the server could not provide it intact" in next((root / "topics").glob("*.html")).read_text()
    assert verify(root)[0] == 0  # the bundle is honest about it


async def test_bad_max_file_bytes_is_422(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    for value, code in (("-1", "out_of_range"), ("lots", "wrong_type")):
        response = await export(client, app, cast.bob, sales, "html", max_file_bytes=value)
        assert (response.status_code, response.json()["error"]["code"]) == (422, code)


async def test_archive_pages_link_a_message_files(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, settings: Settings
) -> None:
    sales, files, _big, _gone = await world(db, cast, settings)
    headers = await as_user(client, app, cast.bob)
    page = await client.get(f"/archive/{sales}/topic", params={"key": "q3"}, headers=headers)
    assert page.status_code == 200, page.text
    assert f'href="/files/{files.attachments[0].id}/tender-Q3.pdf"' in page.text
    assert "gone.pdf" not in page.text  # a tombstone lists no files

"""The local content-addressed store: durable puts, one copy per content, careful deletes."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from chat.files.previews import MAX_PIXELS, PreviewRefused, image_preview, pdf_preview
from chat.files.storage import LocalStore
from tests.files.support import pdf_bytes, png_bytes, png_claiming


def write_temp(store: LocalStore, data: bytes) -> Path:
    f, path = store.temp_file()
    with f:
        f.write(data)
    return path


async def test_put_names_bytes_by_their_sha256_and_stores_them_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "uploads")
    data = b"quarterly numbers"
    digest = hashlib.sha256(data).hexdigest()
    first = write_temp(store, data)
    assert first.parent == tmp_path / "uploads" / "tmp"  # the same filesystem as the blobs: rename is atomic
    assert await store.put(first) == digest
    assert store.path_of(digest) == tmp_path / "uploads" / digest[:2] / digest[2:4] / digest
    assert store.exists(digest) and not first.exists()
    with store.open(digest) as f:
        assert f.read() == data
    again = write_temp(store, data)
    assert await store.put(again) == digest and not again.exists()
    assert [p.name for p in (tmp_path / "uploads").rglob("*") if p.is_file()] == [digest]
    assert await store.put_bytes(b"made here") == hashlib.sha256(b"made here").hexdigest()


async def test_delete_leaves_recently_stored_bytes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    digest = await store.put_bytes(b"racing upload")
    assert await store.delete(digest, idle_s=3600) is False and store.exists(digest)
    old = time.time() - 7200
    os.utime(store.path_of(digest), (old, old))
    await store.put_bytes(b"racing upload")  # stored again: touched
    assert await store.delete(digest, idle_s=3600) is False
    os.utime(store.path_of(digest), (old, old))
    assert await store.delete(digest, idle_s=3600) is True and not store.exists(digest)
    assert await store.delete(digest) is True  # absent already


def test_digests_are_checked_before_they_become_paths(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for bad in ("../../etc/passwd", "AB" * 32, "a" * 63):
        with pytest.raises(ValueError):
            store.path_of(bad)


def test_previews(tmp_path: Path) -> None:
    image = tmp_path / "big.png"
    image.write_bytes(png_bytes(size=(1600, 900)))
    shown = image_preview(image)
    assert (shown.width, shown.height) == (1600, 900) and shown.thumbnail is not None
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(MAX_PIXELS, 2))
    with pytest.raises(PreviewRefused):
        image_preview(bomb)
    broken = tmp_path / "broken.png"
    broken.write_bytes(png_bytes()[:40])
    assert image_preview(broken).thumbnail is None  # no preview, still a file
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(pdf_bytes(pages=4))
    assert pdf_preview(pdf).pages == 4
    not_pdf = tmp_path / "x.pdf"
    not_pdf.write_bytes(b"%PDF-1.7 and then nothing")
    assert pdf_preview(not_pdf).thumbnail is None

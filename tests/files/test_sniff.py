"""What a file is comes from its bytes; the name it is shown under is the uploaded one, made harmless."""

from __future__ import annotations

import pytest

from chat.channels.policy import can_fetch_file
from chat.files.sniff import NAME_MAX, clean_file_name, is_inline, sniff
from tests.files.support import jpeg_with_exif, pdf_bytes, png_bytes


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (png_bytes(), "image/png"),
        (jpeg_with_exif(), "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (pdf_bytes(), "application/pdf"),
        (b"PK\x03\x04rest of a zip", "application/zip"),
        (b"<!DOCTYPE html><p>hi", "text/html"),
        (b"\xef\xbb\xbf  <HTML><body>", "text/html"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"<svg onload=alert(1)>", "image/svg+xml"),
        (b"plain text, caf\xc3\xa9", "text/plain"),
        ("é".encode() * 255 + b"\xc3", "text/plain"),  # a character cut at the end of the sample
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"\xff\xfe\xfd", "application/octet-stream"),
    ],
)
def test_the_type_comes_from_the_bytes(head: bytes, kind: str) -> None:
    assert sniff(head[:512]) == kind


def test_only_raster_images_are_inline() -> None:
    assert all(is_inline(k) for k in ("image/png", "image/jpeg", "image/gif", "image/webp"))
    assert not any(is_inline(k) for k in ("image/svg+xml", "text/html", "application/pdf", "text/plain"))


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Q3 report (final).pdf", "Q3 report (final).pdf"),
        ("Übersicht – 2026.xlsx", "Übersicht – 2026.xlsx"),
        ("../../etc/passwd", "passwd"),
        ("C:\\fakepath\\photo.jpg", "photo.jpg"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # a right-to-left override that would show "exe.jpg"
        ("a\x00b\nc\td.txt", "abcd.txt"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("  spaced   out  .txt ", "spaced out .txt"),
        ("...", "file"),
        ("", "file"),
        ("/", "file"),
    ],
)
def test_names_keep_what_was_uploaded_without_paths_controls_or_bidi(raw: str, shown: str) -> None:
    assert clean_file_name(raw) == shown


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = clean_file_name("x" * 400 + ".tar.gz")
    assert len(name) == NAME_MAX and name.endswith(".gz")
    assert len(clean_file_name("y" * 400)) == NAME_MAX


@pytest.mark.parametrize(
    ("is_uploader", "carried", "visible", "may"),
    [
        (True, False, False, True),  # the uploader, before any message carries it
        (False, False, False, False),  # anyone else then
        (True, True, False, False),  # carried by messages the uploader cannot see (deleted, moved away)
        (False, True, True, True),  # whoever sees a live message carrying it
        (True, True, True, True),
    ],
)
def test_can_fetch_file(is_uploader: bool, carried: bool, visible: bool, may: bool) -> None:
    assert can_fetch_file(is_uploader, carried, visible) is may

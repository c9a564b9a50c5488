"""What a file is, decided from its first bytes; and the name it is shown under.

``sniff`` never looks at the client's ``Content-Type`` or the file name: a PNG
named ``notes.html`` is a PNG, an HTML page named ``cat.png`` is ``text/html``.
Only the raster types of :data:`INLINE_TYPES` are ever shown inline by the
server; SVG and HTML are recognised so that they are named for what they are
(and served as attachments).
"""

from __future__ import annotations

import unicodedata

SNIFF_BYTES = 512
NAME_MAX = 255
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
OCTET_STREAM = "application/octet-stream"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1aE\xdf\xa3", "video/webm"),
)
_MARKUP = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<svg", b"<?xml")


def sniff(head: bytes) -> str:
    """The content type of a file from its first :data:`SNIFF_BYTES` bytes."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(_MARKUP):
        return "image/svg+xml" if b"<svg" in text else "text/html"
    if _is_text(head):
        return "text/plain"
    return OCTET_STREAM


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the sample is fine
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def is_inline(content_type: str) -> bool:
    return content_type in INLINE_TYPES


def clean_file_name(raw: str) -> str:
    """The name to show: as uploaded, minus path separators, control, format (bidi) and
    unassigned characters, at most :data:`NAME_MAX` characters; ``"file"`` when nothing is left.

    A path (``C:\\fakepath\\x.png``, ``../../x``) keeps its last part.
    """
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    kept = " ".join(kept.split()).strip(". ")
    if len(kept) > NAME_MAX:
        stem, dot, ext = kept.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            kept = stem[: NAME_MAX - len(ext) - 1].rstrip() + "." + ext
        else:
            kept = kept[:NAME_MAX]
    return kept or "file"

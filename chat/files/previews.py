"""Previews of uploaded files: image size and a re-encoded thumbnail; PDF page count and first page.

Everything here is CPU-bound and runs in a worker thread (:func:`preview`).

* Images (the raster types of ``chat.files.sniff.INLINE_TYPES``): the size is read from
  the header before any pixel is decoded; more than :data:`MAX_PIXELS` is a
  decompression bomb and refused (:class:`PreviewRefused`). The thumbnail is decoded,
  oriented, shrunk to fit :data:`THUMB_SIZE` and re-encoded as a fresh PNG or JPEG:
  it carries no EXIF or other metadata of the original.
* PDFs: pypdfium2 counts the pages and renders the first one, scaled to fit
  :data:`THUMB_SIZE` whatever the page's declared size. pdfium is not thread-safe,
  so one lock serialises it.

A file that cannot be read as what its bytes claim (a truncated PNG, a broken PDF)
simply gets no preview: it stays a downloadable file.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

log = logging.getLogger(__name__)

MAX_PIXELS = 50_000_000  # width × height of an image we agree to decode (a 50-megapixel photo)
THUMB_SIZE = (400, 400)
PDF_MAX_PAGE_POINTS = 14_400  # pdfium's own limit on a page side (200 inches)
_PDFIUM = threading.Lock()


class PreviewRefused(Exception):
    """The file claims a size no preview should decode (a decompression bomb)."""


@dataclass(frozen=True)
class Preview:
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    thumbnail: bytes | None = None  # PNG or JPEG bytes, no metadata


async def preview(path: Path, content_type: str) -> Preview:
    """The preview of a stored file (``PreviewRefused`` for an image too large to decode)."""
    if content_type.startswith("image/") and content_type != "image/svg+xml":
        return await asyncio.to_thread(image_preview, path)
    if content_type == "application/pdf":
        return await asyncio.to_thread(pdf_preview, path)
    return Preview()


def image_preview(path: Path) -> Preview:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PreviewRefused(f"{width}×{height} pixels is more than {MAX_PIXELS}")
                return Preview(width=width, height=height, thumbnail=_thumbnail(image))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PreviewRefused(str(exc)) from None
        except PreviewRefused:
            raise
        except Exception as exc:  # Pillow raises many kinds on a broken file: no preview then
            log.info("no thumbnail for %s: %s", path.name, exc)
            return Preview()


def _thumbnail(image: Image.Image) -> bytes:
    image.seek(0)  # the first frame of an animation
    image.draft("RGB", THUMB_SIZE)  # JPEG: decode at a reduced scale
    oriented = ImageOps.exif_transpose(image)
    opaque = oriented.mode in ("RGB", "L")
    small = oriented.convert("RGB" if opaque else "RGBA")
    small.thumbnail(THUMB_SIZE)
    return _encode(small, "JPEG" if opaque else "PNG")


def _encode(image: Image.Image, kind: str) -> bytes:
    clean = Image.new(image.mode, image.size)  # a new image: no info, EXIF or ICC from the original
    clean.paste(image)
    out = io.BytesIO()
    if kind == "JPEG":
        clean.save(out, "JPEG", quality=82, optimize=True)
    else:
        clean.save(out, "PNG", optimize=True)
    return out.getvalue()


def pdf_preview(path: Path) -> Preview:
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(path)
        except Exception as exc:
            log.info("no preview for %s: %s", path.name, exc)
            return Preview()
        try:
            pages = len(pdf)
            if pages == 0:
                return Preview(pages=0)
            page = pdf[0]
            width, height = page.get_size()
            if not (0 < width <= PDF_MAX_PAGE_POINTS and 0 < height <= PDF_MAX_PAGE_POINTS):
                return Preview(pages=pages)
            scale = min(THUMB_SIZE[0] / width, THUMB_SIZE[1] / height)
            bitmap = page.render(scale=scale)
            image = bitmap.to_pil().convert("RGB")
            return Preview(pages=pages, thumbnail=_encode(image, "JPEG"))
        except Exception as exc:
            log.info("no first-page preview for %s: %s", path.name, exc)
            return Preview()
        finally:
            pdf.close()

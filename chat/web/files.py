"""Serving uploaded files: ``GET /files/{id}/{name}`` and ``GET /files/{id}/thumb`` (and HEAD).

Who may fetch is ``chat.channels.uploads.access_upload`` (the policy's
``can_fetch_file``); everyone else gets the 404 of a missing id, the very same
response. Cookie or token, as the API.

Headers, decided by the type sniffed at upload (never the name or the client):

* raster images of ``chat.files.sniff.INLINE_TYPES`` (PNG, JPEG, GIF, WebP) and every
  thumbnail (a PNG or JPEG the server made): ``Content-Disposition: inline``;
* everything else (PDF, SVG, HTML, text, …): ``Content-Disposition: attachment``,
  so the browser downloads it and never renders it on this origin;
* always ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox;
  default-src 'none'`` (a file opened directly can run nothing and load nothing),
  ``Cache-Control: private, no-cache`` (shared caches keep nothing; the browser asks
  again each time, so access taken away takes effect at once; Starlette answers a
  matching ETag with the whole file, not a 304: a possible saving, not a leak),
  ``Cross-Origin-Resource-Policy: same-origin`` (no other site embeds them).

Range requests and HEAD are Starlette's ``FileResponse``'s own.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from chat.channels.uploads import access_upload, file_not_found
from chat.files.sniff import is_inline
from chat.files.storage import store_for
from chat.store import models
from chat.web.auth import require_actor
from chat.web.http import path_id
from chat.web.state import services

FILE_CSP = "sandbox; default-src 'none'"


async def _load(request: Request) -> models.Upload:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return await access_upload(session, actor, path_id(request))


def _serve(request: Request, sha256: str, name: str, content_type: str) -> Response:
    path = store_for(services(request).settings.upload_path).path_of(sha256)
    try:  # stat once, here: FileResponse would stat again while sending, too late for a 404
        stat = path.stat()
    except FileNotFoundError:  # removed (a deleted message's file) while a row still names it
        raise file_not_found() from None
    headers = {
        "x-content-type-options": "nosniff",
        "content-security-policy": FILE_CSP,
        "cache-control": "private, no-cache",
        "cross-origin-resource-policy": "same-origin",
    }
    disposition = "inline" if is_inline(content_type) else "attachment"
    return FileResponse(
        path,
        media_type=content_type,
        filename=name,
        content_disposition_type=disposition,
        headers=headers,
        stat_result=stat,
    )


async def serve_file(request: Request) -> Response:
    row = await _load(request)
    return _serve(request, row.sha256, row.name, row.content_type)


async def serve_thumb(request: Request) -> Response:
    row = await _load(request)
    if row.thumbnail_sha256 is None:
        if row.name == "thumb":  # a file really named "thumb": its own URL is this one
            return _serve(request, row.sha256, row.name, row.content_type)
        raise file_not_found()
    kind = _thumb_kind(request, row.thumbnail_sha256)  # PNG when the image has transparency, else JPEG
    stem = row.name.rsplit(".", 1)[0] or "file"
    return _serve(request, row.thumbnail_sha256, f"{stem}-thumb.{kind.split('/')[1]}", kind)


def _thumb_kind(request: Request, sha256: str) -> str:
    try:
        with store_for(services(request).settings.upload_path).open(sha256) as f:
            return "image/png" if f.read(4) == b"\x89PNG" else "image/jpeg"
    except FileNotFoundError:
        raise file_not_found() from None


routes: list[BaseRoute] = [
    Route("/files/{id:id}/thumb", serve_thumb, methods=["GET", "HEAD"], name="file-thumb"),
    Route("/files/{id:id}/{name}", serve_file, methods=["GET", "HEAD"], name="file"),
]

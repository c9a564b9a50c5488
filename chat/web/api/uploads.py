"""``POST /api/v1/uploads``: a file in, stored durably, recorded as the caller's upload.

Order: authenticate (cookie with the CSRF rule, or token); rate limit (the posting
limiter, its own bucket); stream the body into a temporary file of the store
(``chat.web.uploading``: 413 before reading too much); sniff the type from the bytes;
check the quota; run the scan command; make the preview (an image too large to decode
is refused); move the file into the content-addressed store (fsynced); record the row
and its ``upload.created`` event; answer 201. Any refusal removes the temporary file:
nothing is stored.
"""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.channels.attachments import UploadOut
from chat.channels.uploads import check_quota, keep_file, record_upload
from chat.files.sniff import clean_file_name, sniff
from chat.files.storage import store_for
from chat.web.auth import require_actor
from chat.web.http import json_ok
from chat.web.openapi import Query, api_route
from chat.web.state import services
from chat.web.uploading import receive_upload


async def upload(request: Request) -> Response:
    actor = await require_actor(request)
    svc = services(request)
    settings = svc.settings
    svc.post_limiter.hit(f"upload:{actor.id}")
    store = store_for(settings.upload_path)
    received = await receive_upload(request, store, settings.upload_max_bytes)
    try:
        content_type = sniff(received.head)
        async with svc.db.read() as session:
            await check_quota(session, actor, received.size, settings.upload_quota_bytes)
    except BaseException:
        with contextlib.suppress(OSError):
            received.path.unlink()
        raise
    new = await keep_file(
        store,
        received.path,
        name=clean_file_name(received.name),
        size=received.size,
        content_type=content_type,
        scan_argv=settings.scan_argv,
        scan_timeout_s=settings.upload_scan_timeout_s,
    )
    quota = settings.upload_quota_bytes
    out = await svc.db.write(lambda session: record_upload(session, actor, new, quota=quota))
    return json_ok(out, status=201)


routes: list[BaseRoute] = [
    api_route(
        "POST",
        "/uploads",
        upload,
        "Upload a file (multipart field file, or the raw body with ?name=); attach it to a message by its id",
        response=UploadOut,
        status=201,
        query=[Query("name", str, "the file's name (raw bodies; overrides a multipart filename)")],
        errors=(
            "not_authenticated",
            "csrf_failed",
            "rate_limited",
            "file_too_large",
            "empty_file",
            "missing_field",
            "too_many_parts",
            "too_many_files",
            "part_too_large",
            "bad_multipart",
            "quota_exceeded",
            "file_rejected",
            "image_too_large",
        ),
    ),
]

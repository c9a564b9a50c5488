"""Export responses: JSONL and CSV streamed from keyset batches, HTML as a zip built then streamed.

Shared by the conversation export (``GET /api/v1/conversations/{id}/export``)
and the compliance export (``GET /api/v1/compliance/export``). The order:

1. the caller has authorized the scope (``chat.channels.policy``);
2. the messages are counted (the ``X-Salon-Message-Count`` header, which the
   export form's progress bar measures against);
3. JSONL / CSV: the ``archive.exported`` event is written, then the rows stream
   from one read snapshot, a batch at a time (``chat.archive.export``);
   HTML: the bundle is built from one read snapshot in a temporary directory
   (:mod:`chat.web.archive.bundle`), the event is written with the bundle's
   manifest digest and chain heads, then the zip streams from disk (with a
   ``Content-Length``) and the directory is removed.

Who may not see a deleted message's text (anyone but an admin) gets its events
with the body withheld: the digest stays, the chain still verifies. Events of the
chain meant for staff or for one user come sealed to anyone but an admin (their link
only: see :func:`chat.archive.export.chain_lines`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from chat.archive.export import (
    Scope,
    count_messages,
    csv_header,
    csv_line,
    deleted_message_ids,
    iter_messages,
    jsonl_line,
    snapshot,
)
from chat.channels.archive import ExportFormat, reader_limits, record_export
from chat.domain.actors import Actor
from chat.files.storage import store_for
from chat.store import models
from chat.web.archive.bundle import DEFAULT_MAX_FILE_BYTES, build_bundle
from chat.web.i18n import Translator
from chat.web.pages import language
from chat.web.state import services

CHUNK_BYTES = 64 * 1024  # rows are gathered into chunks of about this size before they are sent
_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "application/zip",
}


async def export_response(
    request: Request,
    actor: Actor,
    scope: Scope,
    fmt: ExportFormat,
    *,
    topic: str | None,
    titles: dict[int, str],
    filename: str,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Response:
    db = services(request).db
    async with db.read() as session:
        count = await count_messages(session, scope)
    headers = {
        "content-disposition": f'attachment; filename="{filename}.{"zip" if fmt == "html" else fmt}"',
        "x-salon-message-count": str(count),
        "cache-control": "no-store",
    }
    if fmt == "html":
        return await _bundle_response(
            request, actor, scope, topic=topic, titles=titles, headers=headers, max_file_bytes=max_file_bytes
        )
    async with db.transaction() as session:
        await record_export(session, actor, scope, fmt, topic=topic, extra={"messages": count})
    return StreamingResponse(_rows(request, scope, fmt), media_type=_TYPES[fmt], headers=headers)


async def _rows(request: Request, scope: Scope, fmt: ExportFormat) -> AsyncIterator[bytes]:
    async with services(request).db.read(threaded=True) as session:
        await snapshot(session)
        buffer = bytearray(csv_header() if fmt == "csv" else b"")
        async for _key, record in iter_messages(session, scope):
            buffer += csv_line(record) if fmt == "csv" else jsonl_line(record)
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)


async def _bundle_response(
    request: Request,
    actor: Actor,
    scope: Scope,
    *,
    topic: str | None,
    titles: dict[int, str],
    headers: dict[str, str],
    max_file_bytes: int,
) -> Response:
    db = services(request).db
    root = Path(tempfile.mkdtemp(prefix="salon-export-"))
    try:
        async with db.read(threaded=True) as session:
            await snapshot(session)
            withhold = frozenset() if actor.is_admin else await deleted_message_ids(session, scope.conversation_ids)
            limits = await reader_limits(session, actor, scope.conversation_ids)
            bundle = await build_bundle(
                session,
                root,
                scope,
                titles=titles,
                topic=topic,
                withhold=withhold,
                sealed_audiences=frozenset() if actor.is_admin else frozenset({"staff", "admins", "subject"}),
                sealed_messages=limits.sealed_messages,
                tr=Translator(language(request)),
                exported_by=actor.username,
                exported_at=models.utcnow().isoformat(),
                blobs=store_for(services(request).settings.upload_path),
                max_file_bytes=max_file_bytes,
            )
        extra: dict[str, Any] = {
            "messages": bundle.messages,
            "manifest_sha256": bundle.manifest_sha256,
            "chains": bundle.heads,
            "files": bundle.files,
        }
        async with db.transaction() as session:
            await record_export(session, actor, scope, "html", topic=topic, extra=extra)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    headers = {**headers, "content-length": str(bundle.path.stat().st_size)}
    return StreamingResponse(
        _file_chunks(bundle.path),
        media_type=_TYPES["html"],
        headers=headers,
        background=BackgroundTask(shutil.rmtree, root, ignore_errors=True),
    )


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk

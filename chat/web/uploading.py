"""Reading an upload off the wire into a temporary file, without ever holding it in memory.

``receive_upload`` reads ``request.stream()`` itself (Starlette's ``request.form()``
would spool the whole body first): a declared ``Content-Length`` over the limit is
refused before a byte is read, and the bytes are counted as they arrive, so an
undeclared (chunked) body is cut off as soon as it passes the limit (413
``file_too_large``). Two shapes:

* ``multipart/form-data`` with the file in the field ``file`` (its ``filename`` is the
  name; ``?name=`` overrides it). At most :data:`MAX_PARTS` parts, other fields at most
  :data:`MAX_FIELD_BYTES` each and ignored.
* any other ``Content-Type``: the raw body is the file, named by ``?name=``.

The client's ``Content-Type`` of the file is never used: ``chat.files.sniff`` decides.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from chat.errors import BadRequest, Invalid, TooLarge
from chat.files.sniff import SNIFF_BYTES
from chat.files.storage import BlobStore

MAX_PARTS = 4
MAX_FIELD_BYTES = 4096
MULTIPART_SLACK = 16 * 1024  # boundaries and part headers around the file


@dataclass
class Received:
    """An upload streamed to ``path`` (the caller deletes it unless it was stored)."""

    path: Path
    name: str
    size: int
    head: bytes = b""  # the first bytes, for sniffing


def _too_large(limit: int) -> TooLarge:
    return TooLarge("file_too_large", f"a file may be at most {limit} bytes", limit=limit)


@dataclass
class _Sink:
    """Where the bytes of the file go, counted."""

    out: BinaryIO
    limit: int
    size: int = 0
    head: bytearray = field(default_factory=bytearray)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self.out.write(data)


class _Form:
    """The callbacks of a streaming multipart parser: one ``file`` part to the sink, the rest bounded."""

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.parts = 0
        self.files = 0
        self.filename: str | None = None
        self._field = b""
        self._headers: dict[bytes, bytes] = {}
        self._value = b""
        self._is_file = False
        self._other = 0

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest("too_many_parts", f"an upload has at most {MAX_PARTS} parts")
        self._headers, self._is_file, self._other = {}, False, 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == b"file":
            self.files += 1
            if self.files > 1:
                raise BadRequest("too_many_files", "send one file per upload")
            self._is_file = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.sink.write(data[start:end])
            return
        self._other += end - start
        if self._other > MAX_FIELD_BYTES:
            raise BadRequest("part_too_large", f"a field besides the file may be at most {MAX_FIELD_BYTES} bytes")


async def receive_upload(request: Request, store: BlobStore, limit: int) -> Received:
    """Stream the request's file into a temporary file of ``store``; see the module docstring."""
    content_type = request.headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    multipart = kind == b"multipart/form-data"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + (MULTIPART_SLACK if multipart else 0):
        raise _too_large(limit)
    out, path = store.temp_file()
    try:
        with out:
            sink = _Sink(out, limit)
            filename = await (_read_multipart(request, sink, options) if multipart else _read_raw(request, sink))
        name = request.query_params.get("name") or filename or "file"
        if sink.size == 0:
            raise Invalid("empty_file", "the file is empty", field="file")
        return Received(path, name, sink.size, bytes(sink.head))
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


async def _read_raw(request: Request, sink: _Sink) -> None:
    async for chunk in request.stream():
        sink.write(chunk)


async def _read_multipart(request: Request, sink: _Sink, options: dict[bytes, bytes]) -> str | None:
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("bad_multipart", "a multipart body needs a boundary")
    form = _Form(sink)
    callbacks = {name: getattr(form, name) for name in dir(form) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0  # every byte of the body, so nothing after the file part keeps a request open for ever
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > sink.limit + MULTIPART_SLACK:
                raise _too_large(sink.limit)
            parser.write(chunk)
        parser.finalize()
    except (BadRequest, TooLarge, Invalid):
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        raise BadRequest("bad_multipart", f"the multipart body cannot be read: {exc}") from None
    if form.files == 0:
        raise Invalid("missing_field", "the upload has no field named file", field="file")
    return form.filename or ""

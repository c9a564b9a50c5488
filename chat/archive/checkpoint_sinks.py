"""Where the server's checkpoints go: files outside the data dir and HTTPS endpoints, every interval.

:class:`CheckpointWriter` owns one background task, started and stopped by the
app's lifespan. Each round (:meth:`CheckpointWriter.write_once`) it reads every
chain's head in one threaded read (``chat.archive.checkpoints``), then hands the
same JSON line to each sink in turn:

- a **file** ``PATH``: the line is appended to ``PATH.history`` (JSON lines,
  fsynced; keep it on append-only storage, ``chattr +a`` or a WORM share), then
  ``PATH`` is replaced atomically (temporary file, fsync, rename) with the
  newest checkpoint alone. Someone who deletes the newest events and rewrites
  ``PATH`` is still caught by an older line of the history.
- a **URL** (``https://``, or ``http://127.0.0.1`` for tests and local relays):
  the line is POSTed as ``application/json``; a redirect is not followed.

A sink that fails is logged and tried again at the next interval; nothing here
ever raises into the server. Which sinks are allowed (never inside the data
dir, only ``https``) was decided once, in ``chat.config``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chat.archive.checkpoints import build_checkpoint, dumps
from chat.archive.periodic import Periodic
from chat.store.db import Database

log = logging.getLogger(__name__)

POST_TIMEOUT_S = 10


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a reader sees the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def history_path(path: Path) -> Path:
    return path.with_name(path.name + ".history")


@dataclass(frozen=True)
class FileSink:
    path: Path

    def deliver(self, line: str) -> None:
        with history_path(self.path).open("a", encoding="utf-8") as history:
            history.write(line + "\n")
            history.flush()
            os.fsync(history.fileno())
        write_atomically(self.path, line + "\n")

    def __str__(self) -> str:
        return str(self.path)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError for the 3xx: a checkpoint goes where it was sent or nowhere


@dataclass(frozen=True)
class UrlSink:
    url: str

    def deliver(self, line: str) -> None:
        request = urllib.request.Request(  # noqa: S310 - chat.config allows only https:// and http://127.0.0.1
            self.url,
            data=line.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "salon-checkpoint"},
        )
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if self.url.startswith("http://"):  # only ever 127.0.0.1: never through a proxy
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        with opener.open(request, timeout=POST_TIMEOUT_S) as response:
            response.read(1024)

    def __str__(self) -> str:
        return self.url.split("?", 1)[0]  # a token in the query string stays out of the log


Sink = FileSink | UrlSink


def sink_for(spec: str) -> Sink:
    """A sink from one entry of ``CHAT_CHECKPOINT_SINK`` (already validated by ``chat.config``)."""
    if "://" in spec:
        return UrlSink(spec)
    return FileSink(Path(spec).expanduser().resolve())


class CheckpointWriter:
    """Every ``interval_s`` seconds, one checkpoint to every sink (the first one right at start)."""

    def __init__(self, db: Database, sinks: Sequence[Sink], interval_s: float) -> None:
        self.db = db
        self.sinks = tuple(sinks)
        self.interval_s = interval_s
        self._periodic = Periodic(self.write_once, interval_s, name="audit-checkpoints")

    @classmethod
    def from_settings(cls, db: Database, specs: Sequence[str], interval_s: int) -> CheckpointWriter | None:
        if not interval_s or not specs:
            return None
        return cls(db, [sink_for(spec) for spec in specs], interval_s)

    async def write_once(self) -> list[str]:
        """Write one checkpoint to every sink; return the sinks that failed (each one logged)."""
        try:
            async with self.db.read(threaded=True) as session:
                line = dumps(await build_checkpoint(session))
        except Exception:
            log.exception("audit checkpoint: reading the chains' heads failed; trying again next interval")
            return [str(sink) for sink in self.sinks]
        failed = []
        for sink in self.sinks:
            try:
                await asyncio.to_thread(sink.deliver, line)
            except Exception as exc:
                log.warning("audit checkpoint: sink %s failed (%r); trying again next interval", sink, exc)
                failed.append(str(sink))
        return failed

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.close()

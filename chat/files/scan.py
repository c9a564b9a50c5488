"""The optional scan command (``settings.upload_scan_command``), run before an upload is acknowledged.

It runs without a shell, the file's path appended as its last argument; exit 0
accepts the file, anything else (or running past the timeout, or failing to
start) refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)


async def scan_accepts(argv: list[str], path: Path, timeout_s: float) -> bool:
    if not argv:
        return True
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        log.error("upload scan command %r could not start: %s", argv[0], exc)
        return False
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        log.warning("upload scan command %r took more than %s s: file refused", argv[0], timeout_s)
        return False
    if process.returncode != 0:
        log.info("upload scan refused a file (exit %s): %s", process.returncode, err[-500:].decode("utf-8", "replace"))
        return False
    return True

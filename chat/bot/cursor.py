"""Where a bot keeps its cursor (the newest event id it has handled) between runs.

A ``CursorStore`` is anything with ``load() -> int | None`` and ``save(int)``.
``FileCursorStore`` keeps it in a small text file, replaced atomically (write a
temporary file, fsync, rename), so a crash leaves either the old or the new
cursor, never a torn one. Plug in your own (a database row, Redis …) the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class CursorStore(Protocol):
    def load(self) -> int | None:
        """The saved cursor, or None when there is none yet (the bot starts from now)."""

    def save(self, event_id: int) -> None:
        """Remember ``event_id``; called each time the cursor advances."""


class MemoryCursorStore:
    """A cursor kept in memory: survives reconnects, not a restart of the process."""

    def __init__(self, event_id: int | None = None) -> None:
        self.event_id = event_id

    def load(self) -> int | None:
        return self.event_id

    def save(self, event_id: int) -> None:
        self.event_id = event_id


class FileCursorStore:
    """The cursor as one line of text in ``path``, written atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> int | None:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        if not text:
            return None
        if not text.isdigit():
            raise ValueError(f"{self.path} does not hold a cursor (an event id): {text[:40]!r}")
        return int(text)

    def save(self, event_id: int) -> None:
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f"{event_id}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""A content-addressed blob store: bytes are named by their sha256, stored once.

:class:`BlobStore` is the whole interface the server uses (``put``, ``put_bytes``,
``open``, ``exists``, ``delete``, ``temp_file``), small enough for an
S3-compatible backend. :class:`LocalStore` keeps ``<root>/ab/cd/<sha256>``:

* ``put`` takes a file already written (an upload's temporary file, in ``<root>/tmp``
  so on the same filesystem), hashes it, fsyncs it, renames it into place and fsyncs
  the directory, so once ``put`` returns the bytes survive a crash; the caller
  acknowledges the upload only then. Identical bytes are stored once: a second
  ``put`` of the same content drops its temporary file.
* ``delete(sha256, idle_s=…)`` leaves alone bytes stored or stored again within ``idle_s``
  seconds: an upload of the same content racing a cleanup keeps its bytes.
* Names are server-made (hex digests): nothing a client sends reaches the path.

Hashing and fsync block, so ``put`` runs them in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")


class BlobStore(Protocol):
    async def put(self, source: Path) -> str:
        """Move the file at ``source`` into the store (durably) and return its sha256."""
        ...

    async def put_bytes(self, data: bytes) -> str:
        """Store bytes made by the server (a thumbnail) and return their sha256."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes, for reading (``FileNotFoundError`` when absent)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str, *, idle_s: float = 0) -> bool:
        """Remove the bytes unless they were stored (or stored again) in the last ``idle_s`` seconds;
        True when they are gone (absent already included)."""
        ...

    def temp_file(self) -> tuple[BinaryIO, Path]:
        """A new file to stream an upload into, on the store's own filesystem."""
        ...


def check_digest(sha256: str) -> str:
    if not _DIGEST.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    """Blobs under a directory of this machine (``settings.upload_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def temp_file(self) -> tuple[BinaryIO, Path]:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp, prefix="upload-")
        return os.fdopen(fd, "w+b"), Path(name)

    async def put(self, source: Path) -> str:
        return await asyncio.to_thread(self._put, Path(source))

    def _put(self, source: Path) -> str:
        sha256 = hash_file(source)
        target = self.path_of(sha256)
        if target.exists():  # stored once; touched, so a cleanup running now leaves it alone
            source.unlink(missing_ok=True)
            os.utime(target)
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(source, target)
        _fsync_dir(target.parent)
        return sha256

    async def put_bytes(self, data: bytes) -> str:
        """Store bytes made here (a thumbnail)."""
        f, path = self.temp_file()
        try:
            with f:
                f.write(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return await self.put(path)

    def open(self, sha256: str) -> BinaryIO:
        return self.path_of(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    async def delete(self, sha256: str, *, idle_s: float = 0) -> bool:
        path = self.path_of(sha256)
        try:
            if idle_s and time.time() - path.stat().st_mtime < idle_s:
                return False
            path.unlink()
        except FileNotFoundError:
            pass
        return True


def store_for(root: Path) -> LocalStore:
    """The store the settings name (``settings.upload_path``); stateless, cheap to build."""
    return LocalStore(root)

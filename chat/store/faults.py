"""Failures of the storage itself, as one retryable error for every caller.

A full disk (SQLite's ``SQLITE_FULL``, an ``ENOSPC``, PostgreSQL's ``disk_full``)
is ``Unavailable("storage_full")``; a database that cannot be reached or dropped
the connection (a restart) is ``Unavailable("database_unavailable")``. Both
answer 503 with ``Retry-After``.
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import DBAPIError

from chat.errors import Unavailable

STORAGE_FULL_RETRY_S = 30  # Retry-After when the disk is full: space comes back by an operator's hand
DATABASE_RETRY_S = 5  # Retry-After when the database cannot be reached (a restart takes seconds)

# PostgreSQL SQLSTATEs: disk_full, and the server going away (class 08 is "connection exception")
_PG_DISK_FULL = "53100"
_PG_GONE = frozenset({"57P01", "57P02", "57P03"})  # admin_shutdown, crash_shutdown, cannot_connect_now


def storage_error(exc: BaseException) -> Unavailable | None:
    """The retryable error for a failure of the storage itself, or None for anything else.

    Follows the exception's chain through storage exceptions only: when SQLite rolls a
    transaction back by itself on ``SQLITE_FULL``, the error that reaches here is the
    failed ``ROLLBACK`` that came after it.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and _is_storage_exception(current):
        seen.add(id(current))
        orig = current.orig if isinstance(current, DBAPIError) else current
        if _is_disk_full(orig):
            return Unavailable(
                "storage_full",
                "the server's storage is full; nothing was saved, retry later",
                retry_after=STORAGE_FULL_RETRY_S,
            )
        if (isinstance(current, DBAPIError) and current.connection_invalidated) or _is_connection_lost(orig):
            return Unavailable(
                "database_unavailable",
                "the database cannot be reached; retry (a post with the same nonce is stored once)",
                retry_after=DATABASE_RETRY_S,
            )
        current = current.__cause__ or current.__context__
    return None


def _is_storage_exception(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError | OSError | sqlite3.Error) or hasattr(exc, "sqlstate")


def _is_disk_full(exc: BaseException | None) -> bool:
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return getattr(exc, "sqlstate", None) == _PG_DISK_FULL


def _is_connection_lost(exc: BaseException | None) -> bool:
    if isinstance(exc, OSError):  # refused, reset, timed out (TimeoutError is an OSError)
        return exc.errno != errno.ENOSPC
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _PG_GONE)

"""Helpers for the hostile-input tests: what the database holds, and which error codes are documented.

``snapshot(db)`` reads every row of every table (the test databases are small), leaving out only
bookkeeping that any authenticated request may touch (a token's ``last_used_at``), so "a refused
request changed nothing" is checked against everything, updates included, not only row counts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from chat.store.db import Database
from chat.store.models import Base

ROOT = Path(__file__).resolve().parents[2]
BOOKKEEPING = {"last_used_at", "last_seen_at"}
# background workers' own positions (the notifier's cursor and lease move when it reads the log)
WORKER_TABLES = {"worker_cursors"}


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in WORKER_TABLES:
                continue
            columns = [c for c in table.columns if c.name not in BOOKKEEPING]
            rows = (await session.execute(select(*columns))).all()
            found[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return found


def _table_codes(path: Path, heading: str) -> set[str]:
    text = path.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def api_error_codes() -> set[str]:
    """The codes of docs/api.md's error table (tests/test_docs.py keeps it complete)."""
    return _table_codes(ROOT / "docs" / "api.md", "## Error codes")


def frame_error_codes() -> set[str]:
    """The codes an error frame may carry, from docs/protocol.md (tests/test_protocol_docs.py keeps it true)."""
    return _table_codes(ROOT / "docs" / "protocol.md", "## Error codes")

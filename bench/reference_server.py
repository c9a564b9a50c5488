"""The bare reference for ``bench.fanout``: a minimal websocket broadcast server, not Salon's code.

    .venv/bin/python -m bench.reference_server --port 9001 --db /tmp/ref.db

What a chat server cannot do less than, and nothing more:

* the ``websockets`` package's asyncio server (on uvloop when it is installed,
  as uvicorn runs Salon), no authentication, no routing: every connected
  client is in the one room;
* a ``post`` frame (``{"type": "post", "id", "conversation", "topic", "body",
  "nonce"}``, Salon's shape) is appended to SQLite, **one commit per message**,
  in WAL mode with ``synchronous=FULL`` (Salon's setting, ``chat/store/db.py``),
  on one writer thread so the event loop keeps serving while the commit syncs;
* after the commit the event frame is serialised once and handed to every
  open connection with ``websockets.broadcast`` (sender included, as Salon
  sends the event to every connected member), then the sender gets its ack;
* ``ping`` is acked; anything else is ignored.

The frames have Salon's shape (``hello``; ``{"type":"event","event":{"id",
"conversation","seq","kind","actor","data":{"message":{…}},"created_at"}}``;
``ack`` with the stored message) so the same client harness measures both.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation INTEGER NOT NULL,
    author INTEGER NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Store:
    """One SQLite connection used by one thread: append = INSERT + COMMIT (fsync'd)."""

    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", SCHEMA):
            self._conn.execute(pragma)

    def _append(self, conversation: int, author: int, topic: str, body: str, nonce: str, created_at: str) -> int:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "INSERT INTO messages (conversation, author, topic, body, nonce, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation, author, topic, body, nonce, created_at),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(cursor.lastrowid or 0)

    async def append(self, *args: Any) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._append, *args)

    def close(self) -> None:
        self._pool.shutdown()
        self._conn.close()


def make_handler(store: Store) -> Callable[[ServerConnection], Any]:
    clients: set[ServerConnection] = set()
    user_ids = itertools.count(1)

    async def handler(ws: ServerConnection) -> None:
        user = next(user_ids)
        clients.add(ws)
        try:
            hello = {"type": "hello", "user": {"id": user}, "last_event_id": 0, "heartbeat_s": 25}
            await ws.send(_dumps(hello), text=True)
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "post":
                    conversation, topic, body = int(frame["conversation"]), str(frame["topic"]), str(frame["body"])
                    created_at = datetime.now(UTC).isoformat()
                    message_id = await store.append(conversation, user, topic, body, str(frame["nonce"]), created_at)
                    message = {
                        "id": message_id,
                        "conversation": conversation,
                        "topic": topic,
                        "author": user,
                        "body": body,
                        "html": f"<p>{html.escape(body)}</p>",
                        "created_at": created_at,
                    }
                    event = {
                        "id": message_id,
                        "conversation": conversation,
                        "seq": message_id,
                        "kind": "message.posted",
                        "actor": user,
                        "data": {"message": message},
                        "created_at": created_at,
                    }
                    broadcast(clients, _dumps({"type": "event", "event": event}), text=True)
                    await ws.send(_dumps({"type": "ack", "id": frame["id"], "message": message}), text=True)
                elif frame.get("type") == "ping":
                    await ws.send(_dumps({"type": "ack", "id": frame.get("id"), "pong": True}), text=True)
        finally:
            clients.discard(ws)

    return handler


async def run(port: int, db: Path) -> None:
    store = Store(db)
    try:
        # As Salon's server runs: no server pings, 64 KiB frames (the harness's clients offer no compression).
        async with serve(
            make_handler(store),
            "127.0.0.1",
            port,
            compression=None,
            ping_interval=None,
            max_size=65536,
            backlog=2048,
        ) as server:
            await server.serve_forever()
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed with uvicorn[standard]
        asyncio.run(run(args.port, args.db))
    else:
        uvloop.run(run(args.port, args.db))


if __name__ == "__main__":
    main()

"""Posting messages that carry files, through the real actions: bytes into the store, an upload, a post.

For the tests of what reads files back (search, the Files view, exports, audit): the upload
goes through ``record_upload`` and the post through ``post_message`` with ``attachments``, the
same calls the HTTP routes make, without the HTTP layer the upload tests already cover.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from chat.channels.message_commands import PostMessage
from chat.channels.message_views import MessageOut
from chat.channels.messages import post_message
from chat.channels.uploads import NewUpload, record_upload
from chat.domain.actors import Actor
from chat.files.sniff import sniff
from chat.files.storage import LocalStore
from chat.store.db import Database

File = tuple[str, bytes]  # (name, content)


async def upload_files(db: Database, actor: Actor, files: list[File], store: LocalStore | None = None) -> list[int]:
    """Record each file as the actor's upload (its bytes put in ``store`` when one is given)."""
    ids = []
    for name, data in files:
        sha256 = await store.put_bytes(data) if store is not None else hashlib.sha256(data).hexdigest()
        new = NewUpload(name=name, size=len(data), content_type=sniff(data[:512]), sha256=sha256)
        async with db.transaction() as s:
            ids.append((await record_upload(s, actor, new)).id)
    return ids


async def post_files(
    db: Database,
    actor: Actor,
    conversation_id: int,
    files: list[File],
    body: str = "",
    topic: str = "misc",
    store: LocalStore | None = None,
) -> MessageOut:
    """Upload ``files`` and post them in one message (``topic=""`` in a direct conversation)."""
    ids = await upload_files(db, actor, files, store)
    async with db.transaction() as s:
        cmd = PostMessage(body=body, nonce=uuid.uuid4().hex, topic=topic, attachments=ids)
        posted = await post_message(s, actor, conversation_id, cmd)
    return posted.message


def blob_path(root: Path, sha256: str) -> Path:
    """Where the local store keeps these bytes (``<root>/ab/cd/<sha256>``)."""
    return LocalStore(root).path_of(sha256)


PDF = b"%PDF-1.4\n% a tiny stand-in: sniffed as a PDF by its magic bytes\n"
TEXT = b"plain words in a text file\n"

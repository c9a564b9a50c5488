"""The hash chain of the event log: canonical form, link, verify.

``hash = sha256(prev_hash || canonical(event without body) || body_digest)``

The chain covers the *digest* of an event's body (the erasable part: message
text and its HTML), so a body can be erased for moderation or GDPR and the
chain still verifies; the entry then shows as redacted. Everything else in
the row is covered directly. Pure functions: no database here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_digest(body: str | None) -> str:
    return hashlib.sha256((body or "").encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    """The fields of one event that the chain covers (everything but the body)."""

    chain: str
    seq: int
    conversation_id: int | None
    actor_id: int | None
    subject_id: int | None
    message_id: int | None
    audience: str
    kind: str
    payload: Mapping[str, Any]
    created_at: datetime
    body_digest: str

    def canonical(self) -> str:
        return canonical_json(
            {
                "chain": self.chain,
                "seq": self.seq,
                "conversation_id": self.conversation_id,
                "actor_id": self.actor_id,
                "subject_id": self.subject_id,
                "message_id": self.message_id,
                "audience": self.audience,
                "kind": self.kind,
                "payload": self.payload,
                "created_at": self.created_at.isoformat(timespec="microseconds"),
            }
        )


def link_hash(prev_hash: str, link: Link) -> str:
    h = hashlib.sha256()
    h.update(prev_hash.encode())
    h.update(link.canonical().encode())
    h.update(link.body_digest.encode())
    return h.hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    """One row as read back for verification."""

    id: int
    link: Link
    body: str | None
    redacted: bool
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int
    redacted: int
    ok: bool
    bad_event_id: int | None = None
    bad_seq: int | None = None
    problem: str = ""


def verify_chain(chain: str, rows: Iterable[StoredEvent]) -> ChainReport:
    """Check one chain, rows in ``seq`` order; report the first bad event.

    Detects an edited field or body, a deleted, inserted or reordered row, and
    a body erased without being marked redacted.
    """
    prev = GENESIS
    expected_seq = 1
    last_id = 0
    count = redacted = 0
    for row in rows:
        count += 1

        if row.link.seq != expected_seq:
            return _bad(
                chain,
                count,
                redacted,
                row,
                f"seq {row.link.seq} where {expected_seq} was expected (an event was deleted or inserted)",
            )
        if row.id <= last_id:
            return _bad(chain, count, redacted, row, "event ids out of order (events were swapped)")
        if row.prev_hash != prev:
            return _bad(
                chain,
                count,
                redacted,
                row,
                "prev_hash does not match the previous event (the chain was cut or reordered)",
            )
        if row.redacted:
            redacted += 1
            if row.body is not None:
                return _bad(chain, count, redacted, row, "marked redacted but still carries a body")
        elif body_digest(row.body) != row.link.body_digest:
            return _bad(chain, count, redacted, row, "body does not match its digest (the body was altered)")
        if link_hash(prev, row.link) != row.hash:
            return _bad(chain, count, redacted, row, "hash does not match the event's contents (a field was altered)")
        prev = row.hash
        expected_seq += 1
        last_id = row.id
    return ChainReport(chain, count, redacted, True)


def _bad(chain: str, count: int, redacted: int, row: StoredEvent, problem: str) -> ChainReport:
    return ChainReport(chain, count, redacted, False, row.id, row.link.seq, problem)

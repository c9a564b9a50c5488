"""Checkpoints of the hash chains: catch a log cut short or rewritten from its genesis.

A chain proves that no event *inside* it was edited, inserted, reordered or
deleted; it cannot prove that its newest events were not all deleted, nor that
someone with write access did not recompute the whole chain after a rewrite
(``chain.py`` holds no secret). A checkpoint records, for every chain, its head
(last ``seq``, last event id, hash) at one moment; kept somewhere the database's
attacker cannot reach, it pins every chain's history up to that head:

- a chain with fewer events than its checkpointed ``seq``, or gone altogether, was
  **cut short**;
- a chain whose event at the checkpointed ``seq`` has another hash (or id) was
  **rewritten** below the checkpoint, even if it verifies on its own;
- a chain that kept growing from the checkpointed head is fine.

This module owns the checkpoint's format (one line of JSON, so a history of
them is a JSON-lines file), its defensive parsing (a hostile file gets a
:class:`CheckpointError` naming the line and the field, never a traceback), and
the two reads: :func:`build_checkpoint` and :func:`compare`. It writes no file
and opens no connection: ``chat.archive.checkpoint_sinks`` and the CLI do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Select, and_, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store import models

FORMAT = "salon-checkpoint"
VERSION = 1
MAX_LINE_CHARS = 64 * 1024 * 1024  # one checkpoint of about 500,000 chains
MAX_CHAIN_NAME = 24  # models.Event.chain is a String(24)
BATCH = 400  # (chain, seq) pairs per lookup: well below SQLite's and asyncpg's parameter limits

_HASH = re.compile(r"[0-9a-f]{64}")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: the message names the line and what is wrong."""


@dataclass(frozen=True)
class Head:
    """A chain's newest event at the time of a checkpoint."""

    seq: int
    event_id: int
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    written_at: datetime
    chains: Mapping[str, Head]

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "written_at": self.written_at.isoformat(timespec="microseconds"),
            "chains": {
                name: {"seq": head.seq, "event_id": head.event_id, "hash": head.hash}
                for name, head in sorted(self.chains.items())
            },
        }


@dataclass(frozen=True)
class Finding:
    """One chain that does not match a checkpoint: ``problem`` says what differs."""

    chain: str
    problem: str


def dumps(checkpoint: Checkpoint) -> str:
    """The checkpoint as one line of JSON (no newline): a file on its own, or a line of a history."""
    return json.dumps(checkpoint.to_json(), sort_keys=True, separators=(",", ":"))


def _heads(chains: Sequence[str] | None) -> Select[str, int, int, str]:
    latest_q = select(models.Event.chain, func.max(models.Event.seq).label("seq")).group_by(models.Event.chain)
    if chains is not None:
        latest_q = latest_q.where(models.Event.chain.in_(chains))
    latest = latest_q.subquery()
    return (
        select(models.Event.chain, models.Event.seq, models.Event.id, models.Event.hash)
        .join(latest, and_(models.Event.chain == latest.c.chain, models.Event.seq == latest.c.seq))
        .order_by(models.Event.chain)
    )


async def build_checkpoint(session: AsyncSession, now: datetime | None = None) -> Checkpoint:
    """The head of every chain, as this session sees them (one consistent snapshot)."""
    rows = (await session.execute(_heads(None))).all()
    heads = {chain: Head(int(seq), int(event_id), digest) for chain, seq, event_id, digest in rows}
    return Checkpoint(now or datetime.now(UTC), heads)


# --- reading a checkpoint file ---------------------------------------------------------------------


def parse_checkpoint(text: str, where: str = "checkpoint") -> Checkpoint:
    """One checkpoint from its JSON text; :class:`CheckpointError` says what is wrong with it."""
    if len(text) > MAX_LINE_CHARS:
        raise CheckpointError(f"{where}: longer than {MAX_LINE_CHARS} characters")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, too deep
        raise CheckpointError(f"{where}: not valid JSON ({_short(exc)})") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{where}: not a JSON object")
    if doc.get("format") != FORMAT:
        raise CheckpointError(f'{where}: not a Salon checkpoint ("format" is not {FORMAT!r})')
    if doc.get("version") != VERSION or isinstance(doc.get("version"), bool):
        raise CheckpointError(f"{where}: unsupported version {_show(doc.get('version'))} (this server reads {VERSION})")
    written_at = _timestamp(doc.get("written_at"), where)
    chains = doc.get("chains")
    if not isinstance(chains, dict):
        raise CheckpointError(f'{where}: "chains" must be an object of chain name to head')
    heads: dict[str, Head] = {}
    for name, head in chains.items():
        if not (0 < len(name) <= MAX_CHAIN_NAME and name.isascii() and name.isprintable()):
            raise CheckpointError(f"{where}: bad chain name {_show(name)}")
        heads[name] = _head(head, f"{where}, chain {name}")
    return Checkpoint(written_at, heads)


def read_checkpoints(lines: Iterable[str], where: str = "checkpoint") -> Iterator[Checkpoint]:
    """Every checkpoint of a file: a history (one per line, blank lines skipped) or one JSON object.

    A file whose first line opens an object it does not close (one checkpoint pretty-printed,
    say by ``jq``) is read whole, up to :data:`MAX_LINE_CHARS`.
    """
    whole: list[str] | None = None
    first = True
    size = 0
    for number, line in enumerate(lines, 1):
        if whole is not None:
            whole.append(line)
            size += len(line)
            if size > MAX_LINE_CHARS:
                raise CheckpointError(f"{where}: longer than {MAX_LINE_CHARS} characters")
        elif line.strip():
            if first and line.strip() == "{":
                whole, size = [line], len(line)
                continue
            first = False
            yield parse_checkpoint(line, f"{where}, line {number}")
    if whole is not None:
        yield parse_checkpoint("".join(whole), where)


def _timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise CheckpointError(f'{where}: "written_at" must be an ISO 8601 time')
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CheckpointError(f'{where}: "written_at" {_show(value)} is not an ISO 8601 time') from None
    if moment.tzinfo is None:
        raise CheckpointError(f'{where}: "written_at" has no time zone')
    return moment


def _head(value: object, where: str) -> Head:
    if not isinstance(value, dict):
        raise CheckpointError(f"{where}: must be an object with seq, event_id and hash")
    seq, event_id, digest = value.get("seq"), value.get("event_id"), value.get("hash")
    for name, number in (("seq", seq), ("event_id", event_id)):
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 2**63:
            raise CheckpointError(f'{where}: "{name}" must be a positive integer, not {_show(number)}')
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise CheckpointError(f'{where}: "hash" must be 64 lowercase hex digits, not {_show(digest)}')
    assert isinstance(seq, int) and isinstance(event_id, int)  # noqa: S101 - narrowed above, for mypy
    return Head(seq, event_id, digest)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _short(exc: BaseException) -> str:
    return "nested too deep" if isinstance(exc, RecursionError) else _show(str(exc))[1:-1]


# --- comparing with the chains ---------------------------------------------------------------------


@dataclass
class _Expected:
    """Everything the checkpoints say about one chain: the highest seq, and each recorded head."""

    top: Head
    top_at: datetime
    heads: dict[int, list[tuple[Head, datetime]]] = field(default_factory=dict)


async def compare(session: AsyncSession, checkpoints: Iterable[Checkpoint]) -> list[Finding]:
    """The chains that do not match the checkpoints (one finding per chain, by name); [] if all match.

    Several checkpoints (a history) are all held to account: a chain must still hold every head any of
    them recorded, so a newest checkpoint rewritten by whoever cut the log is caught by an older one.
    """
    expected: dict[str, _Expected] = {}
    for checkpoint in checkpoints:
        for chain, head in checkpoint.chains.items():
            known = expected.get(chain)
            if known is None:
                known = expected[chain] = _Expected(head, checkpoint.written_at)
            elif head.seq > known.top.seq:
                known.top, known.top_at = head, checkpoint.written_at
            known.heads.setdefault(head.seq, []).append((head, checkpoint.written_at))
    names = sorted(expected)
    now: dict[str, int] = {}
    found: dict[tuple[str, int], tuple[int, str]] = {}
    for start in range(0, len(names), BATCH):
        for chain, seq, _, _ in (await session.execute(_heads(names[start : start + BATCH]))).all():
            now[chain] = int(seq)
    pairs = [(chain, seq) for chain in names for seq in expected[chain].heads if seq <= now.get(chain, 0)]
    for start in range(0, len(pairs), BATCH):
        rows = await session.execute(
            select(models.Event.chain, models.Event.seq, models.Event.id, models.Event.hash).where(
                tuple_(models.Event.chain, models.Event.seq).in_(pairs[start : start + BATCH])
            )
        )
        for chain, seq, event_id, digest in rows.all():
            found[(chain, int(seq))] = (int(event_id), digest)
    findings = []
    for chain in names:
        problem = _problem(expected[chain], now.get(chain), {s: found.get((chain, s)) for s in expected[chain].heads})
        if problem:
            findings.append(Finding(chain, problem))
    return findings


def _problem(expected: _Expected, now_seq: int | None, stored: Mapping[int, tuple[int, str] | None]) -> str:
    top, at = expected.top, _when(expected.top_at)
    if now_seq is None:
        return (
            f"no longer exists: the checkpoint of {at} recorded {top.seq} event(s), "
            f"the last one event {top.event_id} (all of its events were deleted)"
        )
    if now_seq < top.seq:
        return (
            f"cut short: it has {now_seq} event(s), the checkpoint of {at} recorded {top.seq} "
            f"(last event id {top.event_id}): its newest events were deleted"
        )
    for seq in sorted(expected.heads):
        row = stored[seq]
        for head, written_at in expected.heads[seq]:
            if row is None:  # a gap below the head: plain verify names the event
                return f"rewritten: no event at seq {seq}, which the checkpoint of {_when(written_at)} recorded"
            event_id, digest = row
            if digest != head.hash or event_id != head.event_id:
                return (
                    f"rewritten: its event at seq {seq} is event {event_id} with hash {digest[:16]}…, "
                    f"the checkpoint of {_when(written_at)} recorded event {head.event_id} "
                    f"with hash {head.hash[:16]}…"
                )
    return ""


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
